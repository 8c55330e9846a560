# make demo | test | matrix | lint — each makes the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MATRIX_VERSIONS ?= 3.8 3.9 3.10 3.11 3.12 3.13
PYTEST_FLAGS ?= -q
# The first-party plugins, installed like any third-party one.
PLUGINS := -e plugins/progress -e plugins/jsonlog

.PHONY: demo test lint pytest matrix clean

$(BIN)/.installed: setup.cfg pyproject.toml plugins/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]' $(PLUGINS)
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python examples/demo.py

test: lint pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check predictions tests examples plugins
	$(BIN)/ruff format --check predictions tests examples plugins
	$(BIN)/mypy predictions
	$(BIN)/mypy --strict examples plugins/progress/predictions_progress plugins/jsonlog/predictions_jsonlog

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

# The tests on every supported Python with the newest dependencies, and on the
# oldest Python with the oldest allowed ones (constraints/oldest.txt).
matrix:
	@set -e; for v in $(MATRIX_VERSIONS); do \
		bash scripts/run-tests-on.sh "$$v" ""; \
	done; \
	bash scripts/run-tests-on.sh 3.8 constraints/oldest.txt

clean:
	rm -rf $(VENV) .venv-matrix build *.egg-info
