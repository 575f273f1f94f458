# Spatio-Temporal API: `make run` serves it, `make test` tests it. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
RASTER_PORT ?= 8081
PGPORT ?= 5439
LOCAL := .local
PGDATA_DIR := $(LOCAL)/pgdata
LOCAL_DATABASE_URL := postgresql://postgres@127.0.0.1:$(PGPORT)/stapi
export STAPI_DATA_DIR ?= $(CURDIR)/$(LOCAL)/data

.PHONY: help setup system-deps venv db migrate demo run stop test conformance fuzz bench clean e2e-deps cubes-gc

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## install PostgreSQL 15 + PostGIS from apt when missing
	@bash scripts/system_deps.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e ".[test]"
	@touch $@

venv: $(VENV)/.installed ## create the Python environment

setup: system-deps venv ## everything `run` and `test` need

db: setup ## start the project's PostgreSQL cluster (or use $$DATABASE_URL)
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/pg_local.sh start $(PGDATA_DIR) $(PGPORT) stapi >/dev/null; \
	  echo "db: local cluster in $(PGDATA_DIR) on port $(PGPORT)"; else echo "db: using \$$DATABASE_URL"; fi

migrate: db ## install pgSTAC and apply the project's migrations
	@DATABASE_URL=$${DATABASE_URL:-$(LOCAL_DATABASE_URL)} $(PY) -m scripts.migrate

demo: migrate ## load the demo dataset (idempotent)
	@DATABASE_URL=$${DATABASE_URL:-$(LOCAL_DATABASE_URL)} $(PY) -m scripts.load_demo

run: demo ## set everything up and serve the API on http://localhost:$(PORT)
	@mkdir -p $(LOCAL)
	@export DATABASE_URL=$${DATABASE_URL:-$(LOCAL_DATABASE_URL)}; \
	  if [ -f $(LOCAL)/raster.pid ] && kill -0 $$(cat $(LOCAL)/raster.pid) 2>/dev/null; then kill $$(cat $(LOCAL)/raster.pid); sleep 1; fi; \
	  $(VENV)/bin/uvicorn raster_worker.app:app --host 127.0.0.1 --port $(RASTER_PORT) --log-level warning \
	    > $(LOCAL)/raster.log 2>&1 & echo $$! > $(LOCAL)/raster.pid; \
	  echo "run: raster worker on 127.0.0.1:$(RASTER_PORT) (log in $(LOCAL)/raster.log)"; \
	  echo "run: serving http://localhost:$(PORT)/ (legacy surface) and http://localhost:$(PORT)/api/v2/"; \
	  echo $$$$ > $(LOCAL)/gateway.pid; \
	  RASTER_WORKER_URL=http://127.0.0.1:$(RASTER_PORT) exec $(VENV)/bin/uvicorn api_gateway.app:app \
	    --host 0.0.0.0 --port $(PORT) --proxy-headers

stop: ## stop what `make run` started (gateway, raster worker, local database)
	@for p in gateway raster; do if [ -f $(LOCAL)/$$p.pid ]; then kill $$(cat $(LOCAL)/$$p.pid) 2>/dev/null || true; rm -f $(LOCAL)/$$p.pid; fi; done
	@bash scripts/pg_local.sh stop $(PGDATA_DIR)
	@echo "stop: stopped"

e2e-deps: ## headless Chromium, MapLibre GL JS and STAC Browser (in .local/e2e) for the browser tests
	@bash scripts/e2e_deps.sh $(LOCAL)/e2e

test: setup e2e-deps ## run the test suite (starts a throwaway database unless $$DATABASE_URL is set)
	@$(PY) -m pytest $(PYTEST_ARGS)

conformance: setup ## run stac-api-validator against a throwaway server
	@$(PY) -m pytest tests/e2e -k validator $(PYTEST_ARGS)

fuzz: setup ## longer schemathesis run (STAPI_FUZZ_EXAMPLES per operation, a random seed) against a throwaway server
	@STAPI_FUZZ_EXAMPLES=$${STAPI_FUZZ_EXAMPLES:-50} STAPI_FUZZ_SEED=$${STAPI_FUZZ_SEED:-$$RANDOM} \
	  $(PY) -m pytest tests/e2e/test_openapi_conformance.py -k generated $(PYTEST_ARGS)

bench: demo ## run the benchmarks in bench/ (prints figures; never part of `make test`)
	@DATABASE_URL=$${DATABASE_URL:-$(LOCAL_DATABASE_URL)} $(PY) bench/run_all.py

cubes-gc: ## remove DataCube store versions no collection is registered with (DRY_RUN=1 lists them)
	@DATABASE_URL=$${DATABASE_URL:-$(LOCAL_DATABASE_URL)} $(PY) scripts/cube_gc.py $(if $(DRY_RUN),--dry-run)

clean: stop ## remove the local database, data and Python environment
	rm -rf $(LOCAL) $(VENV)
