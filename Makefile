# The README's two commands: `make plan STACK=staging` and `make test`.
# Both build .venv from requirements.txt on first use (and again when it changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
STACK ?= staging

.PHONY: plan test check cost bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

plan: $(STAMP)
	$(PY) -m infra plan --stack $(STACK)

check: $(STAMP)
	$(PY) -m infra check --stack $(STACK)

cost: $(STAMP)
	$(PY) -m infra cost --stack $(STACK)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
