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

test: $(VENV)/.installed-test
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks
	$(BIN)/pytest tests -n 2 -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cas_conformance tests tests_cas benchmarks
	$(BIN)/mypy cas_conformance

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/*.ps1
