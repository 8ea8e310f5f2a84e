# Two commands on a fresh machine:
#   make run    set up a virtualenv, migrate, load demo data, serve on 127.0.0.1:8000
#   make test   set up the same way and run the whole test suite
#   make stack  two workers + two schedulers on the local PostgreSQL and Redis
# run and test work on embedded defaults (SQLite, in-memory channel layer); set
# DATABASE_URL / REDIS_URL to run against PostgreSQL and Redis.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
STACK_ARGS ?=

.PHONY: run test setup lint bench clean stack

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Translations: the .po files are the source, the .mo files build output (.gitignore),
# compiled in pure Python (polib), so no GNU gettext is needed; rebuilt when a .po changes.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))

locale/%.mo: locale/%.po $(VENV)/.installed
	$(BIN)/python manage.py compile_translations

setup: $(VENV)/.installed $(MO_FILES)

run: setup
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# docker-compose.yml's topology from local processes (PostgreSQL and Redis needed):
# 2 daphne workers on 8001/8002 + 2 schedulers; e.g. STACK_ARGS="--workers 3".
stack: setup
	$(BIN)/python scripts/stack $(STACK_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

# Every benchmark at its documented size, then one summary table (docs/performance.md);
# needs PostgreSQL and Redis on localhost. BENCH_ARGS=--quick for small sizes.
# bench/request_path.py drives its load with wrk (Debian's package), installed here if missing.
BENCH_ARGS ?=
bench: setup
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache $(MO_FILES)
