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

$(VENV)/ready: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --requirement requirements-dev.txt
	touch $@

project: $(VENV)/ready ## render a project from your answers into ./out
	$(VENV)/bin/cookiecutter . --output-dir out

lint: $(VENV)/ready ## ruff and mypy (strict) on the template's own code (hooks, tests, bench)
	$(VENV)/bin/ruff check hooks tests bench
	$(VENV)/bin/ruff format --check hooks tests bench
	$(VENV)/bin/mypy

test: lint ## lint, then every template test (needs Redis and PostgreSQL: bash .ci/run starts them)
	$(VENV)/bin/pytest --numprocesses 3 --dist loadgroup

bench: $(VENV)/ready ## results ignored, in PostgreSQL (Celery's backend, this one) and in Redis: one table (N=2000)
	$(VENV)/bin/python bench/run.py --tasks $(N) --rounds $(ROUNDS) --samples $(SAMPLES)

.PHONY: help project lint test bench
