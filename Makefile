# The two commands of the README. Everything else is a step they call.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test setup lint format bench clean

run: setup            ## set up, then run the console + sandboxes on the embedded SQLite default
	$(BIN)/raxx-console serve --sandbox

test: setup           ## set up, then lint and run the whole test suite (what CI runs)
	bash scripts/test.sh

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	touch $@

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: setup
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) instance .pytest_cache
