# Two set-up commands: `make demo` and `make test`. Each creates .venv if missing,
# installs what it needs, then runs. Only Python 3.11+ and make are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint typecheck unit bench clean recording pi-check browser browser-deps bluez-check

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vagus needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[demo]"
	@touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/vagus demo

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest -m "not broker"

# The console's browser tests: Debian's chromium and its driver (apt-get; as root, or via sudo),
# then the tests. Nothing is downloaded by Selenium (tests/console/browser.py).
browser-deps:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends chromium chromium-driver; }

browser: browser-deps $(DEV_STAMP)
	$(BIN)/pytest tests/console/test_browser.py

# The BLE tests marked `bluez` through real BlueZ (bleak's default backend over D-Bus) in a
# QEMU guest with hci_vhci; needs root (apt-get for QEMU, busybox, bluez). Last line: JSON.
bluez-check: $(DEV_STAMP)
	VAGUS_PYTHON=$(abspath $(BIN))/python $(BIN)/python scripts/bluez_guest_check.py

recording: $(DEV_STAMP)
	$(BIN)/python scripts/make_demo_recording.py -o vagus/data/demo-session.vrec

# make pi-check: the gateway on emulated arm64 (Pi OS bookworm, Python 3.11), every feature window
# compared with x86; needs root; builds or reuses the root (docs/pi.md, "arm64 under emulation").
# PI_CHECK_PYTHON=/path/to/python uses that interpreter for the x86 side instead of .venv's.
pi-check: $(if $(PI_CHECK_PYTHON),,$(RUNTIME_STAMP))
	scripts/pi_check.sh $(or $(PI_CHECK_PYTHON),$(abspath $(BIN)/python))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
