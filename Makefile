# SIP-HA developer entry points.  Everything installs what it needs.
VENV   ?= .venv
PYTHON ?= /usr/bin/python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: all deps deb-deps deb boxes venv lint typecheck shellcheck check test unit unit-debian \
        integration cluster bench demo clean

SHELL_SCRIPTS = .ci/run scripts/host-deps.sh vagrant/*.sh vagrant/box/*.sh vagrant/provision/*.sh

all: test

# What `make deb` builds the Debian package with (debian/README.Debian).
DEB_DEPS = dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3-all \
           python3-setuptools python3-wheel python3-click python3-lxml lintian

deps:
	./scripts/host-deps.sh $(DEB_DEPS)
	./vagrant/host-setup.sh

deb-deps:
	./scripts/host-deps.sh $(DEB_DEPS)

# The Debian package, built from this checkout (its tracked and new files):
# build/deb/sip-ha_VERSION_all.deb and lintian's report beside it, rebuilt
# only when those files changed.  The test clusters and the demo install it.
deb: deb-deps
	$(PYTHON) scripts/build_deb.py build/deb

# Test boxes (Debian 12 and sid), cached in /var/cache/sip-ha, rebuilt only
# when their recipe changes; and the package their nodes install.
boxes: deps deb
	./vagrant/build-box.sh bookworm
	./vagrant/build-box.sh sid

# The venv needs neither apt nor root: python3 with its venv module, and PyPI.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $@

venv: $(STAMP)

# The fast loop (CONTRIBUTING.rst): no apt, no root.
lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy  # strict; pyproject.toml says what

shellcheck: venv
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)

# A Pacemaker tool this host lacks skips the tests that read it (-rs lists
# them); make test installs the tools and lets nothing skip.
unit: venv
	SIPHA_ALLOW_SKIP=1 $(PY) -m pytest -q -rs tests/unit

check: lint typecheck shellcheck unit

# The unit tests on Debian 12's python3-click, -lxml, -pymysql and -watchdog
# (setup.cfg's floors, the .deb's Depends); pytest 8 from PyPI.
DEBIAN_VENV = build/venv-debian
unit-debian:
	./scripts/host-deps.sh python3-click python3-lxml python3-pymysql python3-watchdog
	test -x $(DEBIAN_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(DEBIAN_VENV)
	$(DEBIAN_VENV)/bin/pip install -q 'pytest>=8' aiosmtpd jsonschema
	$(DEBIAN_VENV)/bin/pip install -q --no-deps --no-build-isolation .
	cd build && ../$(DEBIAN_VENV)/bin/python -c 'import click, lxml.etree, pymysql, watchdog.version; \
	    print("click", click.__version__, "lxml", lxml.etree.__version__, \
	          "pymysql", pymysql.__version__, "watchdog", watchdog.version.VERSION_STRING)'
	SIPHA_ALLOW_SKIP=1 $(DEBIAN_VENV)/bin/python -m pytest -q -rs -p no:cacheprovider tests/unit

# The slow layers: host packages, test boxes, root.
integration: deps venv boxes
	$(PY) -m pytest -q tests/integration

cluster: deps venv boxes deb
	$(PY) -m pytest -q -ra tests/cluster

test: deps venv lint typecheck shellcheck boxes deb
	$(PY) -m pytest -q -ra --durations=15 tests/unit tests/integration tests/cluster

bench: venv boxes
	$(PY) -m pip install -q -e '.[test,bench]' --config-settings editable_mode=compat
	$(PY) bench/run.py

demo: venv deb
	./vagrant/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
