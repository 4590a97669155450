# Stopclock — the front door. `make run` starts the demo, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test bench lint format lock migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs exactly the locked versions (requirements/*.txt, made by `make lock`).
$(VENV)/.run-installed: requirements/run.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/run.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/run.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/dev.txt
	touch $@ $(VENV)/.run-installed

# Migrations run as the schema owner when DATABASE_OWNER_URL is given (PostgreSQL, RLS).
migrate: $(VENV)/.run-installed
	DATABASE_URL="$${DATABASE_OWNER_URL:-$$DATABASE_URL}" $(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) -m config.runstack --port $(PORT)

test: $(VENV)/.dev-installed
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed
	$(PY) -m bench $(BENCH_ARGS)

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

lock: | $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --strip-extras -o requirements/run.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra dev -c requirements/run.txt -o requirements/dev.txt pyproject.toml

clean:
	rm -rf var .pytest_cache .ruff_cache
