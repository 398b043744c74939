# Set-up commands: `make demo` and `make test` work on a fresh machine (only python3 >= 3.10 needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint conformance install install-test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[plotting]"

install-test: $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[test]"
	@# nothing outside this folder is changed: headless Chromium (tests/reporting/test_reports_browser.py)
	@# is a system package that CI installs in .ci/run; without it those tests skip locally (fail under CI=true)

# the sample data, the extraction outputs and report.html go to nimask-demo/ (no temporary folder)
demo: install
	$(PY) -m nimask demo --out-dir nimask-demo

test: install-test
	$(PY) -m pytest -q -n 2 -p no:cacheprovider tests
	$(PY) conformance/run.py

# nilearn 0.14.1's own masker tests against nimask (see conformance/run.py)
conformance: install-test
	$(PY) conformance/run.py

# lint only: the tree is not run through `ruff format` (no format check)
lint: install-test
	$(VENV)/bin/ruff check src tests benchmarks

bench: install-test
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis nimask-demo
