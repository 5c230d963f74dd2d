#!/bin/sh
# Install smartstore as systemd services on Debian / Raspberry Pi OS. Idempotent: run it again to upgrade.
#
#   sudo systemd/install.sh                       edge service from this checkout, enabled and started
#   sudo systemd/install.sh --collector           the collector service too (or --collector --no-edge)
#   sudo systemd/install.sh --uninstall [--purge] remove units and /opt/smartstore (--purge: config, data, user too)
#
# Options: --source DIR (checkout with models/ and example configs; default: this one), --package SPEC (what pip
# installs; default: the source directory), --extras LIST (default: edge,litert; --collector adds "collector"),
# --pip-args "ARGS" (extra pip arguments, e.g. an offline --no-index --find-links DIR),
# --no-start (enable but do not start), --root DIR (stage into DIR instead of /: no user, apt or systemctl;
# used by the tests and for building images). Layout: see docs/deployment.md.
set -eu

PREFIX=/opt/smartstore
USER_NAME=smartstore
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$SCRIPT_DIR")
ROOT=
PACKAGE=
EXTRAS=edge,litert
PIP_ARGS=
EDGE=1
COLLECTOR=0
START=1
UNINSTALL=0
PURGE=0

say() { printf 'smartstore-install: %s\n' "$*"; }
die() { printf 'smartstore-install: error: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --source) [ $# -ge 2 ] || die "--source needs a value"; SOURCE=$2; shift ;;
        --package) [ $# -ge 2 ] || die "--package needs a value"; PACKAGE=$2; shift ;;
        --extras) [ $# -ge 2 ] || die "--extras needs a value"; EXTRAS=$2; shift ;;
        --pip-args) [ $# -ge 2 ] || die "--pip-args needs a value"; PIP_ARGS=$2; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT=$(cd "$2" && pwd) || die "--root $2: no such directory"; shift ;;
        --collector) COLLECTOR=1 ;;
        --no-edge) EDGE=0 ;;
        --no-start) START=0 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or stage with --root DIR"
[ -n "$ROOT" ] || command -v systemctl >/dev/null || die "systemctl not found: this installer needs systemd"

UNITS=
[ "$EDGE" -eq 1 ] && UNITS="smartstore-edge.service"
[ "$COLLECTOR" -eq 1 ] && UNITS="$UNITS smartstore-collector.service" && EXTRAS="$EXTRAS,collector"
UNIT_DIR=$ROOT/etc/systemd/system

systemctl_() {  # systemctl, or what it would have done when staging
    if [ -n "$ROOT" ]; then say "(staged, not run) systemctl $*"; else systemctl "$@"; fi
}

uninstall() {
    for unit in smartstore-edge.service smartstore-collector.service; do
        if [ -f "$UNIT_DIR/$unit" ]; then
            systemctl_ disable --now "$unit" || true
            rm -f "$UNIT_DIR/$unit"
            say "removed $unit"
        fi
    done
    systemctl_ daemon-reload
    rm -rf "$ROOT$PREFIX"
    say "removed $PREFIX"
    if [ "$PURGE" -eq 1 ]; then
        rm -rf "$ROOT/etc/smartstore" "$ROOT/var/lib/smartstore" "$ROOT/var/lib/smartstore-collector" \
            "$ROOT/var/cache/smartstore"
        say "removed /etc/smartstore, /var/lib/smartstore*, /var/cache/smartstore"
        if [ -z "$ROOT" ] && getent passwd "$USER_NAME" >/dev/null; then
            userdel "$USER_NAME" && say "removed user $USER_NAME"
        fi
    else
        say "kept /etc/smartstore and /var/lib/smartstore* (use --purge to remove them)"
    fi
}

if [ "$UNINSTALL" -eq 1 ]; then
    uninstall
    exit 0
fi

[ -n "$UNITS" ] || die "nothing to install (--no-edge without --collector)"
[ -d "$SOURCE" ] || die "--source $SOURCE: no such directory"
SOURCE=$(cd "$SOURCE" && pwd)

# 1. Debian packages: Python's venv module (and pip's build needs on a bare Raspberry Pi OS Lite).
if [ -z "$ROOT" ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    say "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
fi

# 2. The service user: no login, no home of its own beyond the state directory systemd creates.
if [ -n "$ROOT" ]; then
    say "(staged, not run) create system user $USER_NAME"
elif getent passwd "$USER_NAME" >/dev/null; then
    say "user $USER_NAME exists"
else
    useradd --system --user-group --home-dir /var/lib/smartstore --no-create-home --shell /usr/sbin/nologin \
        --comment "smartstore services" "$USER_NAME"
    say "created user $USER_NAME"
fi

# 3. The virtual environment and the package (upgraded in place when run again).
if [ ! -x "$ROOT$PREFIX/venv/bin/python" ]; then
    python3 -m venv "$ROOT$PREFIX/venv"
    say "created $PREFIX/venv"
fi
TARGET="${PACKAGE:-$SOURCE}[$EXTRAS]"
# shellcheck disable=SC2086  # PIP_ARGS is a list of arguments
"$ROOT$PREFIX/venv/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS "$TARGET"
say "installed smartstore[$EXTRAS] into $PREFIX/venv"

# 4. Models (manifests + built files) next to the venv: SMARTSTORE_MODELS in the units points here.
if [ -d "$SOURCE/models" ]; then
    mkdir -p "$ROOT$PREFIX/models"
    cp -a "$SOURCE/models/." "$ROOT$PREFIX/models/"
    say "copied models to $PREFIX/models"
fi

# 5. Configuration: examples are installed once and never overwritten (a newer example goes beside as .dist).
mkdir -p "$ROOT/etc/smartstore"
install_config() {  # install_config EXAMPLE NAME
    [ -f "$1" ] || die "example config $1 is missing (is --source a smartstore checkout?)"
    if [ -f "$ROOT/etc/smartstore/$2" ]; then
        cmp -s "$1" "$ROOT/etc/smartstore/$2" || cp "$1" "$ROOT/etc/smartstore/$2.dist"
        say "kept /etc/smartstore/$2"
    else
        cp "$1" "$ROOT/etc/smartstore/$2"
        say "installed /etc/smartstore/$2 (edit it: store, device, cameras, mqtt)"
    fi
}
[ "$EDGE" -eq 1 ] && install_config "$SOURCE/edge/examples/edge.yaml" edge.yaml
[ "$COLLECTOR" -eq 1 ] && install_config "$SOURCE/collector/examples/collector.yaml" collector.yaml
if [ -z "$ROOT" ]; then
    chown -R root:"$USER_NAME" /etc/smartstore
    chmod 0750 /etc/smartstore
fi

# 6. Units: installed, enabled, (re)started.
mkdir -p "$UNIT_DIR"
for unit in $UNITS; do
    install -m 0644 "$SCRIPT_DIR/$unit" "$UNIT_DIR/$unit"
    say "installed $unit"
done
systemctl_ daemon-reload
for unit in $UNITS; do
    systemctl_ enable "$unit"
    if [ "$START" -eq 1 ]; then
        systemctl_ restart "$unit"
        say "started $unit (journalctl -u $unit -f)"
    fi
done
say "done"
