# SIP-HA developer entry points.  Everything installs what it needs.
VENV   ?= .venv
PYTHON ?= /usr/bin/python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: all deps venv lint test unit integration cluster bench demo clean

all: test

deps:
	./scripts/host-deps.sh

$(STAMP): setup.cfg pyproject.toml | deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $@

venv: deps $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv
	$(PY) -m pytest -q tests/integration

test: venv lint
	$(PY) -m pytest -q -ra tests/unit tests/integration

bench: venv
	$(PY) bench/run.py

demo:
	./vagrant/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
