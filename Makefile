# Two commands from a fresh clone: `make check` (the suite against the built-in lab) and
# `make test` (the project's own tests). Each sets up .venv itself; the stamp follows pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: check test lint browser kerberos krb5-system clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,lab]'
	touch $(VENV)/.installed $@

# After the default run, the same lab over Kerberos (fixtures/lab/kerberos.ini) where MIT Kerberos
# and the `kerberos` extra are there (as root, `make check` installs them first with `make
# kerberos`); skipped otherwise, saying how to get it. Its reports go to reports/kerberos/.
KRB5_PROBE := import gssapi, krb5; from cas_conformance.lab import kdc_programs; kdc_programs()

check: $(VENV)/.installed
	$(BIN)/pytest --inventory inventory.ini
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory kerberos; fi
	@if $(BIN)/python -c "$(KRB5_PROBE)" 2>/dev/null; then \
		$(BIN)/pytest --inventory fixtures/lab/kerberos.ini -q --reports-dir reports/kerberos \
			--html reports/kerberos/report.html --junitxml reports/kerberos/junit.xml; \
	else \
		echo "make check: the run over Kerberos is skipped: it needs MIT Kerberos and the kerberos extra" \
			"(as root: make kerberos; or apt-get install $(KRB5_APT) && $(BIN)/pip install -e '.[kerberos]')"; \
	fi

test: $(VENV)/.installed-test browser kerberos
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks conftest.py
	$(BIN)/ruff format --check cas_conformance tests tests_cas benchmarks conftest.py
	$(BIN)/mypy cas_conformance
	$(BIN)/pytest tests -n 2 -q

# Debian's chromium and its driver, for the HTML report's browser tests (tests/browser). Installed
# only where missing (a no-op, instantly, once they are there) and only as root. A failed install
# does not stop `make test`: the browser tests then fail in CI (CI=true) and skip elsewhere, each
# saying why.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then \
		true; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make browser: $(CHROMIUM) or $(CHROMEDRIVER) missing; as root: apt-get update && apt-get install -y chromium chromium-driver"; \
	else \
		echo "make browser: installing chromium and chromium-driver (Debian)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
			|| echo "make browser: the install failed: the browser tests fail in CI and skip elsewhere"; \
	fi

# MIT Kerberos for the lab's KDC and the Kerberos transport (tests/kerberos): Debian's KDC programs
# (krb5-kdc, kadmin.local from krb5-admin-server, kinit from krb5-user) and libkrb5-dev to build the
# `kerberos` extra (python-gssapi, krb5). Same pattern as `browser`: apt only where missing and only
# as root; a failed install does not stop `make test`: the Kerberos tests then fail in CI (CI=true)
# and skip elsewhere, each saying why. `make check` runs without it; as root it installs it first
# for its second run, over Kerberos.
KRB5_FILES := /usr/sbin/krb5kdc /usr/sbin/kdb5_util /usr/sbin/kadmin.local /usr/bin/kinit /usr/bin/krb5-config
KRB5_APT := krb5-kdc krb5-admin-server krb5-user libkrb5-dev

kerberos: krb5-system $(VENV)/.installed-kerberos

krb5-system:
	@missing=""; for f in $(KRB5_FILES); do [ -x "$$f" ] || missing="$$missing $$f"; done; \
	if [ -z "$$missing" ]; then \
		true; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make kerberos:$$missing missing; as root: apt-get update && apt-get install -y $(KRB5_APT)"; \
	else \
		echo "make kerberos: installing $(KRB5_APT) (Debian)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(KRB5_APT) >/dev/null; } \
			|| echo "make kerberos: the install failed: the Kerberos tests fail in CI and skip elsewhere"; \
	fi

$(VENV)/.installed-kerberos: pyproject.toml | $(BIN)/python krb5-system
	@if $(BIN)/python -m pip install --quiet -e '.[kerberos]'; then touch $@; else \
		echo "make kerberos: pip install -e '.[kerberos]' failed (it builds against libkrb5-dev): the Kerberos tests fail in CI and skip elsewhere"; fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks conftest.py
	$(BIN)/ruff format --check cas_conformance tests tests_cas benchmarks conftest.py
	$(BIN)/mypy cas_conformance

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/*.ps1 reports/kerberos
