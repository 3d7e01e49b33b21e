# Two commands do all the set-up: `make run` (the service with embedded defaults)
# and `make test` (everything the tests need, then lint, type checks and the suite).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest messages clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.dev-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

## Run the service on http://$(HOST):$(PORT) with SQLite in ./data; demo data when empty.
## Links it hands out (invitations, mail) point there unless LIBRARYLAB_PUBLIC_URL says otherwise.
run: export LIBRARYLAB_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(BIN)/.installed
	$(BIN)/librarylab demo --if-empty
	$(BIN)/librarylab serve --host $(HOST) --port $(PORT)

## Install what the tests need, then lint, type-check and run the whole suite.
test: $(BIN)/.dev-installed
	scripts/install-test-services
	$(MAKE) lint typecheck pytest

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.dev-installed
	$(BIN)/mypy

pytest: $(BIN)/.dev-installed
	$(BIN)/pytest

## Re-extract translatable text and merge it into the catalogs (see docs/translations.md).
messages: $(BIN)/.dev-installed
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project=librarylab \
	    -k InvalidInput -k NotFound -k Conflict -k Unavailable -k DomainError -k TooLarge \
	    -k why -k Problem:2 -k _parsed:4 \
	    -o librarylab/locale/messages.pot librarylab stations visits scheduler dashboard printers stats mail booking
	$(BIN)/pybabel update -i librarylab/locale/messages.pot -d librarylab/locale \
	    --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
