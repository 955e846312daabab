# Two commands from a fresh clone: `make check` (the suite against the built-in lab) and
# `make test` (the project's own tests). Each sets up .venv itself; the stamp follows pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: check test lint browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

check: $(VENV)/.installed
	$(BIN)/pytest --inventory inventory.ini

test: $(VENV)/.installed-test browser
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks
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

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks
	$(BIN)/mypy cas_conformance

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/*.ps1
