# The template's task runner: `make` lists the tasks. CI (.ci/run) calls `make test`, as people do.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
# make bench N=50 ROUNDS=1 SAMPLES=5: a smoke run of about a minute
N ?= 2000
ROUNDS ?= 3
SAMPLES ?= 100

help: ## list the tasks
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check

# Rendering needs cookiecutter alone; the tests need the whole toolchain.
$(VENV)/render-ready: requirements-render.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --requirement requirements-render.txt
	touch $@

$(VENV)/ready: $(VENV)/render-ready requirements-dev.txt
	$(PIP) --requirement requirements-dev.txt
	touch $@

project: $(VENV)/render-ready ## render a project from your answers into ./out (cookiecutter, nothing else)
	$(VENV)/bin/cookiecutter . --output-dir out

lint: $(VENV)/ready ## ruff and mypy (strict) on the template's own code (hooks, scripts, tests, bench)
	$(VENV)/bin/ruff check hooks scripts tests bench
	$(VENV)/bin/ruff format --check hooks scripts tests bench
	$(VENV)/bin/mypy

test: lint ## lint, then every template test (needs Redis and PostgreSQL: bash .ci/run starts them)
	$(VENV)/bin/pytest --numprocesses 3 --dist loadgroup

locks: $(VENV)/ready ## lock every dependency set again into templates/locks/ (UPGRADE=1: newest releases)
	$(VENV)/bin/python scripts/locks.py $(if $(UPGRADE),--upgrade)

bench: $(VENV)/ready ## results ignored, in PostgreSQL (Celery's backend, this one) and in Redis: one table (N=2000)
	$(VENV)/bin/python bench/run.py --tasks $(N) --rounds $(ROUNDS) --samples $(SAMPLES)

.PHONY: help project lint test locks bench
