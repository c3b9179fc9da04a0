# Studio Brain. The two commands a newcomer types: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help setup run test lint bench test-deps services fmt

help:
	@echo "make run    start the cockpit, worker and beat (embedded Postgres/Redis unless DATABASE_URL/REDIS_URL)"
	@echo "make test   install test needs, check/start Postgres and Redis, run the whole suite"
	@echo "make lint   ruff, mypy, migrations check"
	@echo "make bench  run the benchmarks in tests/bench"

# Quiet: `make run` is for staff. pip's -qq hides its warnings too (index settings of the machine).
$(UV):
	@echo "installing uv into .tools (once)"
	@$(PYTHON) -m venv .tools
	@.tools/bin/pip install -qq --disable-pip-version-check uv==$(UV_VERSION)

# Idempotent install of the locked dependencies into .venv (about 0.05 s when nothing changed).
setup: $(UV)
	@[ -x $(PY) ] || echo "installing the Python dependencies into .venv (once, about 30 s)"
	@$(UV) sync --frozen --quiet

# Embedded Postgres and Redis under .data/ unless DATABASE_URL / REDIS_URL are set;
# BRAIN_RUN_PORT (default 8000) moves the web server. See docs/runbooks/local-run.md.
run: setup
	@$(PY) scripts/run.py

test-deps: setup
	scripts/install-test-deps.sh

services:
	scripts/services.sh

test: setup test-deps services
	$(PY) -m pytest $(PYTEST_ARGS)

# mypy's Django plugin imports the settings, whose contract requires these; nothing connects.
MYPY_ENV := env -u DJANGO_SECRET_KEY_FILE DJANGO_SECRET_KEY=lint-only-not-a-secret \
	DATABASE_URL=postgres://lint@127.0.0.1:5432/lint REDIS_URL=redis://127.0.0.1:6379/0

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(MYPY_ENV) .venv/bin/mypy .
	$(PY) -m pytest -q -p no:randomly tests/test_migrations.py

fmt: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# The benches start what they measure (embedded Postgres/Redis, servers on loopback ports).
bench: setup services
	$(PY) -m tests.bench $(BENCH_ARGS)
