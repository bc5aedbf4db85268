# SIP-HA developer entry points.  Everything installs what it needs.
VENV   ?= .venv
PYTHON ?= /usr/bin/python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: all deps boxes venv lint test unit integration cluster bench demo clean

all: test

deps:
	./scripts/host-deps.sh
	./vagrant/host-setup.sh

# Test boxes (Debian 12 and sid), cached in /var/cache/sip-ha, rebuilt only
# when their recipe changes.
boxes: deps
	./vagrant/build-box.sh bookworm
	./vagrant/build-box.sh sid

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

integration: venv boxes
	$(PY) -m pytest -q tests/integration

cluster: venv boxes
	$(PY) -m pytest -q -ra tests/cluster

test: venv lint boxes
	$(PY) -m pytest -q -ra --durations=15 tests/unit tests/integration tests/cluster

bench: venv boxes
	$(PY) bench/run.py

demo: venv
	./vagrant/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
