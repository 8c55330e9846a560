# make demo | test | matrix | lint — each makes the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MATRIX_VERSIONS ?= 3.8 3.9 3.10 3.11 3.12 3.13
# The suite waits far more than it computes (its CPU time is a third of its
# wall time), so three workers on two cores cut it by half; `PYTEST_FLAGS=-q` runs it in one.
PYTEST_FLAGS ?= -q -n 3
# The first-party plugins, installed like any third-party one.
PLUGINS := -e plugins/progress -e plugins/jsonlog -e plugins/otel

.PHONY: demo test lint pytest matrix bench docs clean

$(BIN)/.installed: setup.cfg pyproject.toml plugins/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev,docs,dask]' $(PLUGINS)
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python examples/demo.py

test: lint pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check predictions tests examples plugins
	$(BIN)/ruff format --check predictions tests examples plugins
	$(BIN)/mypy predictions
	$(BIN)/mypy --strict examples plugins/progress/predictions_progress plugins/jsonlog/predictions_jsonlog \
		plugins/otel/predictions_otel

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

# The Sphinx site (API reference and guides), warnings as errors.
docs: $(BIN)/.installed
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# The tests on every supported Python with the newest dependencies, and on the
# oldest Python with the oldest allowed ones (constraints/oldest.txt).
matrix:
	@set -e; for v in $(MATRIX_VERSIONS); do \
		bash scripts/run-tests-on.sh "$$v" ""; \
	done; \
	bash scripts/run-tests-on.sh 3.8 constraints/oldest.txt

# Side-by-side figures against wriftai 0.17.0 (benchmarks/bench.py): a venv of
# its own, with regular (not editable) installs so start-up is measured as users get it.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: setup.cfg pyproject.toml plugins/*/pyproject.toml $(shell find predictions plugins -name '*.py')
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q --force-reinstall . plugins/progress plugins/jsonlog plugins/otel \
		'wriftai==0.17.0' opentelemetry-sdk
	touch $@

# wriftai 0.34.0 (the newest official client) cannot share a venv with 0.17.0.
BENCH_VENV_034 := .venv-bench-034
$(BENCH_VENV_034)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV_034)
	$(BENCH_VENV_034)/bin/python -m pip install -q 'wriftai==0.34.0'
	touch $@

bench: $(BENCH_VENV)/.installed $(BENCH_VENV_034)/.installed
	cd benchmarks && WRIFTAI_034_PYTHON=../$(BENCH_VENV_034)/bin/python \
		../$(BENCH_VENV)/bin/python bench.py $(PARTS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(BENCH_VENV_034) .venv-matrix build *.egg-info docs/_build
