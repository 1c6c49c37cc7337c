# pushconsole: `make run` (the product on SQLite, with demo data) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
# `make run` always uses its own SQLite file unless RUN_DATABASE_URL says otherwise.
RUN_DATABASE_URL ?= sqlite:///$(CURDIR)/db.sqlite3
# `make test` runs on PostgreSQL unless DATABASE_URL says otherwise (sqlite:///... works too).
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pushconsole
PYTEST_ARGS ?=

# `make bench` measures on its own PostgreSQL database.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pushconsole_bench
BENCH_ARGS ?=

.PHONY: run test lint format bench clean

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pushconsole needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime
	DATABASE_URL=$(RUN_DATABASE_URL) $(PY) manage.py migrate --no-input -v 0
	DATABASE_URL=$(RUN_DATABASE_URL) $(PY) manage.py seed_demo
	@echo "Open http://$(ADDR)/ and log in with the demo login above."
	DATABASE_URL=$(RUN_DATABASE_URL) exec $(PY) manage.py runconsole $(ADDR) --demo

test: $(VENV)/.dev
	DATABASE_URL=$(DATABASE_URL) $(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	@DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -c "import psycopg, environ; c = environ.Env.db_url_config('$(BENCH_DATABASE_URL)'); \
	a = psycopg.connect(host=c['HOST'] or None, port=c['PORT'] or None, user=c['USER'] or None, password=c['PASSWORD'] or None, dbname='postgres', autocommit=True); \
	a.execute('CREATE DATABASE ' + c['NAME']) if not a.execute('SELECT 1 FROM pg_database WHERE datname = %s', [c['NAME']]).fetchone() else None"
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py migrate --no-input -v 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
