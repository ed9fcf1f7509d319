# Parley: `make run` runs the platform, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.DEFAULT_GOAL := help
BROWSER_FILE := $(TOOLS)/chromium-path

.PHONY: help install browser run test lint fmt docs bench chaos clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'uv>=0.5,<1'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock shared/pyproject.toml shared/runtime/pyproject.toml devtools/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages --group dev
	@touch $@

install: $(VENV)/.synced ## install the workspace into .venv (uv, locked)

browser: install ## find a Chromium for the console tests: the machine's, else Playwright's own (no root), else (root only) Debian's
	@$(VENV)/bin/python -m parley_devtools.browser > $(BROWSER_FILE).new && mv $(BROWSER_FILE).new $(BROWSER_FILE)
	@echo "console tests use $$(cat $(BROWSER_FILE))"

run: install ## run the whole platform in the foreground until Ctrl-C
	$(VENV)/bin/parley-run

test: install browser ## run every test (unit + integration against embedded NATS and PostgreSQL)
	PARLEY_CHROMIUM="$$(cat $(BROWSER_FILE))" $(VENV)/bin/python -m pytest --basetemp="$$(mktemp -d -t parley-pytest-XXXXXX)" $(PYTEST_ARGS)

lint: install ## ruff + mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared/src shared/runtime/src devtools/src services/*/src

fmt: install ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

docs: install ## regenerate docs/api.md and docs/events.md from the services' OpenAPI and AsyncAPI documents
	$(VENV)/bin/python -m parley_devtools.refdocs

bench: install ## run the benchmarks and print their figures
	$(VENV)/bin/python -m parley_devtools.bench

chaos: install ## fault-tolerance scenarios (kills, NATS cluster node loss, PostgreSQL restart, receiver outage, SMSC drops, overload)
	$(VENV)/bin/python -m parley_devtools.chaos

clean: ## remove the virtualenvs and local data
	rm -rf $(TOOLS) $(VENV) .parley
