# NARRA_FORGE Monitoring. `make help` lists the targets.
# `make all` is the loop a change goes through: format, regenerate, lint, test.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Re-install when the project's dependencies change.
INSTALLED := $(VENV)/.installed
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo promtool)
AMTOOL ?= $(shell command -v amtool 2>/dev/null || echo amtool)
export PROMTOOL AMTOOL

.PHONY: help all setup system-deps test lint fmt generate check-generated rules dashboards docs \
        clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

all: fmt generate lint test ## Format, regenerate, lint and test

setup: $(INSTALLED) system-deps ## Create .venv with the package and dev tools; install the Debian binaries

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system-deps: ## Install prometheus, promtool, alertmanager, amtool and docker-compose when missing
	@scripts/install_system_deps.sh

test: setup ## Lint, type-check, check generated files for drift, run every test
	$(PY) -m ruff check .
	$(MAKE) --no-print-directory typecheck
	$(PY) -m tools.generate --check
	$(PY) -m pytest

lint: $(INSTALLED) ## Lint, format-check and type-check the Python code (ruff, mypy)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MAKE) --no-print-directory typecheck

.PHONY: typecheck
typecheck: $(INSTALLED) ## mypy: the package with --strict, tools/ at mypy's default strictness
	$(PY) -m mypy --strict -p narra_forge.monitoring
	$(PY) -m mypy tools

fmt: $(INSTALLED) ## Format the Python code
	$(PY) -m ruff check --fix-only .
	$(PY) -m ruff format .

generate: $(INSTALLED) ## Write every generated file (rules, dashboards, docs)
	$(PY) -m tools.generate

check-generated: $(INSTALLED) ## Fail, naming the file, when a committed generated file is stale
	$(PY) -m tools.generate --check

rules docs: generate

# No `setup` prerequisite: a user's CI may bring promtool as PROMTOOL=... or a container engine.
.PHONY: lint-rules
lint-rules: $(INSTALLED) ## alerts.yml current, promtool check config/rules, promtool unit tests, catalogue lint
	$(PY) -m tools.prometheus.lint

.PHONY: lint-dashboards backup-dashboards
dashboards: generate ## Write the five Grafana dashboards (part of `make generate`)

lint-dashboards: $(INSTALLED) ## Lint the dashboards against the catalogue, conventions and Grafana's schemas
	$(PY) -m tools.grafana.lint

GRAFANA_BACKUP_DIR ?= backups/grafana
backup-dashboards: $(INSTALLED) ## Export every dashboard of a running Grafana (GRAFANA_URL, GRAFANA_TOKEN) to backups/
	$(PY) -m tools.grafana.backup --out $(GRAFANA_BACKUP_DIR)

.PHONY: lint-alertmanager lint-compose secret-scan
lint-alertmanager: setup ## amtool check-config, every alert's route vs routes.expected.yml, templates
	$(PY) -m tools.alertmanager.lint

lint-compose: setup ## Validate docker-compose.monitoring.yml (docker-compose config, mounts, ports, images)
	$(PY) -m tools.checks.compose

secret-scan: $(INSTALLED) ## Fail if a tracked file holds a webhook URL, routing key or password
	$(PY) -m tools.checks.secret_scan

.PHONY: demo backfill e2e
SCENARIO ?= healthy
BACKFILL_DAYS ?= 0
demo: setup ## Run the stack natively with a simulated workload (SCENARIO=..., BACKFILL_DAYS=7); Ctrl-C stops it
	$(PY) -m tools.demo.stack --scenario $(SCENARIO) --backfill-days $(BACKFILL_DAYS)

DAYS ?= 30
backfill: setup ## Write DAYS (30) of simulated history into .data/prometheus (stop the demo first)
	$(PY) -m tools.demo.backfill --days $(DAYS)

e2e: setup ## Only the end-to-end tests (real Prometheus, Alertmanager, simulator, receiver)
	$(PY) -m pytest tests/e2e

.PHONY: bench
bench: $(INSTALLED) ## Run the benchmarks (tools/bench) and write bench/results.md
	$(PY) -m tools.bench

clean: ## Remove the virtualenv, caches and runtime data
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .data
