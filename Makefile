# Cobranza: the two commands a new user runs are `make run` and `make test`.
# Both bootstrap .venv from the committed lock file (uv.lock) when it is missing or stale.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: bootstrap run test test-fast lint format docs docs-serve mlflow-ui prefect-ui deploy serve bench bench-dbt pg-strings clean report gx-docs config-docs system-deps

$(VENV)/.synced: uv.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --quiet
	@touch $@

bootstrap: $(VENV)/.synced ## create .venv from uv.lock

run: bootstrap ## the daily collections run on embedded defaults (simulator, DuckDB, MLflow on SQLite)
	$(BIN)/cobranza run

test: bootstrap system-deps ## the whole test suite, slow end-to-end tests included
	$(BIN)/pytest

test-fast: bootstrap ## everything but the slow end-to-end tests
	$(BIN)/pytest -m "not slow"

lint: bootstrap
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: bootstrap
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

docs: bootstrap ## dbt docs for the warehouse built by `make run` (its published read copy: never blocks a flow)
	COBRANZA_DBT_DUCKDB_PATH=$(CURDIR)/data/published/warehouse.duckdb $(BIN)/dbt docs generate \
	  --project-dir dbt_project --profiles-dir dbt_project --target-path $(CURDIR)/data/dbt/target
	COBRANZA_DBT_DUCKDB_PATH=$(CURDIR)/data/published/warehouse.duckdb $(BIN)/dbt docs serve \
	  --project-dir dbt_project --profiles-dir dbt_project --target-path $(CURDIR)/data/dbt/target --port 8080

system-deps: ## Debian's chromium for the report's browser test (installs only when missing and root)
	@bash .ci/system-deps

report: bootstrap ## KPI report of the last run as one HTML file in data/reports; SEGMENT=, COUNTRY=, AS_OF=
	$(BIN)/cobranza report $(if $(AS_OF),--as-of $(AS_OF)) $(if $(SEGMENT),--segment $(SEGMENT)) \
	  $(if $(COUNTRY),--country $(COUNTRY))

gx-docs: ## Great Expectations Data Docs of the last run on http://127.0.0.1:8081
	$(PYTHON) -m http.server 8081 --bind 127.0.0.1 --directory data/gx/gx/uncommitted/data_docs/local_site

config-docs: bootstrap ## regenerate docs/configuration.md from cobranza/settings.py
	$(BIN)/python docs/gen_config_reference.py

mlflow-ui: bootstrap ## MLflow UI on the local tracking store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/data/mlflow.db --workers 1 --port 5000

prefect-ui: bootstrap ## local Prefect server (then `make deploy` in another shell)
	$(BIN)/prefect server start --host 127.0.0.1

serve: bootstrap ## the live service on one machine: Prefect server, schedules, webhook receiver; DEMO=1 adds the emulators
	$(BIN)/cobranza serve $(if $(DEMO),--demo)

deploy: bootstrap ## register the deployments of prefect.yaml on the running server
	$(BIN)/prefect work-pool create cobranza-process --type process || true
	$(BIN)/prefect --no-prompt deploy --all

bench: bootstrap ## wall time and peak memory per stage; PROFILE=S|M|L
	$(BIN)/cobranza bench --profile $(or $(PROFILE),S)

bench-dbt: bootstrap ## full `dbt build` time, rows per mart, peak RSS; PROFILE=S|M|L TARGET=duckdb|postgres
	$(BIN)/python -m bench.dbt_build --profile $(or $(PROFILE),S) --target $(or $(TARGET),duckdb)

pg-strings: ## optional: Jaro-Winkler in C for the Postgres target (PGXS; needs pg_config and the server headers)
	$(MAKE) -C dbt_project/pg_extension/cobranza_strings install
	$(MAKE) -C dbt_project/pg_extension/cobranza_strings clean

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
