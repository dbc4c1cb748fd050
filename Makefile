# One command to set up and serve the demo (make demo), one to run the tests (make test).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

## Set up, build the demo index (first run only) and serve it on http://127.0.0.1:8000
demo: install
	$(BIN)/policyqa serve

## Lint and run the test suite (installs the headless browser the page tests need)
test: install
	bash scripts/ensure-system-packages.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
