# Two set-up commands: `make demo` and `make test`. Each creates .venv if missing,
# installs what it needs, then runs. Only Python 3.11+ and make are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint typecheck unit bench clean recording bluez-check

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

# The BLE tests marked `bluez` through real BlueZ (bleak's default backend over D-Bus) in a
# QEMU guest with hci_vhci; needs root (apt-get for QEMU, busybox, bluez). Last line: JSON.
bluez-check: $(DEV_STAMP)
	VAGUS_PYTHON=$(abspath $(BIN))/python $(BIN)/python scripts/bluez_guest_check.py

recording: $(DEV_STAMP)
	$(BIN)/python scripts/make_demo_recording.py -o vagus/data/demo-session.vrec

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
