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
# Grafana's LogQL grammar for the LogQL checks (tools/loki/logql.py); re-installed when the lock changes.
LOGQL_PARSER := tools/loki/node_modules/.package-lock.json
# pytest-xdist workers for `make test` and `make e2e` (`auto`: one per core; 0: no workers).
TEST_WORKERS ?= auto
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo promtool)
AMTOOL ?= $(shell command -v amtool 2>/dev/null || echo amtool)
export PROMTOOL AMTOOL

.PHONY: help all setup system-deps test lint fmt generate check-generated rules dashboards docs \
        clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Layout: README.md (Layout); tests/<part>/ tests tools/<part>/."

all: fmt generate lint test ## Format, regenerate, lint and test

setup: $(INSTALLED) system-deps $(LOGQL_PARSER) ## .venv with the package and dev tools, tools/loki's LogQL parser (npm ci), the Debian binaries

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# npm ci installs exactly the committed lock (no network afterwards: the checks run node only).
$(LOGQL_PARSER): tools/loki/package.json tools/loki/package-lock.json
	cd tools/loki && npm ci --no-audit --no-fund --loglevel=error
	touch $@

system-deps: ## scripts/install_system_deps.sh: prometheus, alertmanager, docker-compose, node, victoria-metrics
	@scripts/install_system_deps.sh

test: setup ## Lint, type-check, check generated files for drift, run every test
	$(PY) -m ruff check .
	$(MAKE) --no-print-directory typecheck
	$(PY) -m tools.generate --check
	$(PY) -m pytest -n $(TEST_WORKERS)

lint: $(INSTALLED) ## Lint, format-check and type-check the Python code (ruff, mypy)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MAKE) --no-print-directory typecheck

.PHONY: typecheck typecheck-package typecheck-tools
typecheck: $(INSTALLED) ## mypy: the package with --strict, tools/ at mypy's default strictness
	@$(MAKE) --no-print-directory -j2 --output-sync=target typecheck-package typecheck-tools

# Side by side, each with its own cache: one cache shared by two strictnesses is rewritten by
# each run for the other's options, so neither run ever found it warm.
typecheck-package: $(INSTALLED)
	$(PY) -m mypy --strict --cache-dir .mypy_cache/strict -p narra_forge.monitoring

typecheck-tools: $(INSTALLED)
	$(PY) -m mypy --cache-dir .mypy_cache/default tools

fmt: $(INSTALLED) ## Format the Python code
	$(PY) -m ruff check --fix-only .
	$(PY) -m ruff format .

generate: $(INSTALLED) ## tools/generate.py: rules, dashboards, Grafana schemas, generated blocks of docs/
	$(PY) -m tools.generate

check-generated: $(INSTALLED) ## tools/generate.py --check: fail, naming the file, when a generated file is stale
	$(PY) -m tools.generate --check

rules docs: generate

# No `setup` prerequisite: a user's CI may bring promtool as PROMTOOL=... or a container engine.
.PHONY: lint-rules
lint-rules: $(INSTALLED) $(LOGQL_PARSER) ## tools/prometheus/lint.py: alerts.yml, slo_rules.yml, HA config current, promtool, catalogue lint
	$(PY) -m tools.prometheus.lint

.PHONY: lint-dashboards backup-dashboards
dashboards: generate ## tools/grafana/dashboards/: the five dashboards (part of `make generate`)

lint-dashboards: $(INSTALLED) $(LOGQL_PARSER) ## tools/grafana/lint.py: panels vs catalogue, conventions, Grafana's schemas
	$(PY) -m tools.grafana.lint

GRAFANA_BACKUP_DIR ?= backups/grafana
backup-dashboards: $(INSTALLED) ## tools/grafana/backup.py: export a running Grafana's dashboards (GRAFANA_URL, GRAFANA_TOKEN)
	$(PY) -m tools.grafana.backup --out $(GRAFANA_BACKUP_DIR)

.PHONY: lint-alertmanager lint-compose secret-scan
lint-alertmanager: setup ## tools/alertmanager/lint.py: amtool check-config, every alert's route, templates
	$(PY) -m tools.alertmanager.lint

lint-compose: setup ## tools/checks/compose.py: docker-compose config (and + docker-compose.ha.yml), mounts, ports, images
	$(PY) -m tools.checks.compose

secret-scan: $(INSTALLED) ## tools/checks/secret_scan.py: fail if a tracked file holds a webhook URL, key or password
	$(PY) -m tools.checks.secret_scan

.PHONY: demo backfill e2e
SCENARIO ?= healthy
# Days of history written into an empty .data/prometheus before Prometheus starts; empty: the
# runner's default (six hours), 0: none.
BACKFILL_DAYS ?=
# The demo needs the package with its [demo] extra only (about 15 s on a fresh clone, against 35 s
# for [dev]); a full `make setup` serves it too.
DEMO_INSTALLED := $(VENV)/.installed-demo
$(DEMO_INSTALLED): pyproject.toml
	@if [ -f $(INSTALLED) ] && [ $(INSTALLED) -nt pyproject.toml ]; then touch $@; else \
		echo "installing the demo's Python packages into $(VENV) (make setup adds the dev tools)"; \
		$(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q -e '.[demo]' && touch $@; fi

demo: $(DEMO_INSTALLED) system-deps ## tools/demo/stack.py: the stack natively, simulated workload, 6h of history (SCENARIO=, BACKFILL_DAYS=)
	$(PY) -m tools.demo.stack --scenario $(SCENARIO) $(if $(BACKFILL_DAYS),--backfill-days $(BACKFILL_DAYS))

.PHONY: demo-ha
demo-ha: setup ## tools/demo/ha.py: 2 Prometheus replicas, 3 clustered Alertmanagers, VictoriaMetrics (SCENARIO=)
	$(PY) -m tools.demo.ha --scenario $(SCENARIO)

DAYS ?= 30
backfill: setup ## tools/demo/backfill.py: DAYS (30) of simulated history into .data/prometheus
	$(PY) -m tools.demo.backfill --days $(DAYS)

e2e: setup ## tests/e2e: real Prometheus, Alertmanager, simulator and receiver
	$(PY) -m pytest -n $(TEST_WORKERS) tests/e2e

.PHONY: bench bench-quick
bench: $(INSTALLED) ## tools/bench/: run the benchmarks and write bench/results.md
	$(PY) -m tools.bench

bench-quick: $(INSTALLED) ## tools/bench/ --quick: the ratios that matter in about 2 minutes, no 30-day history (prints)
	$(PY) -m tools.bench --quick

clean: ## Remove the virtualenv, caches and runtime data
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .data
