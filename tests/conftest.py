"""The tests' view of the one mocks harness (infra/offline/harness.py).

`plan(stack, **overrides)` runs the real program under mocks with a committed stack file
(optionally with whole config keys replaced) and returns a `Plan` to query. Runs are cached
per (stack, overrides): a program run costs about a second, and most tests only read.
"""

from __future__ import annotations

import json
from typing import Any

import os

import pytest
from hypothesis import settings

from infra.offline.plan import build_plan

pytest_plugins = ["tests.postgres"]  # the `postgres` fixture: a throwaway PostgreSQL 17 shaped like RDS

# CI and `make test`: the same examples every run (a failure reproduces), no example
# database left in the tree. `HYPOTHESIS_PROFILE=explore` searches afresh, ten times wider.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

STACKS = ("dev", "staging", "prod")
_CACHE: dict[str, "Plan"] = {}


class Plan:
    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.states = [s["newState"] for s in data["steps"]]
        self.outputs = data["outputs"]
        self.config = data["config"]

    def of_type(self, token: str) -> list[dict[str, Any]]:
        return [s for s in self.states if s["type"] == token]

    def named(self, token: str, suffix: str) -> dict[str, Any]:
        """The one resource of `token` whose logical name ends with `suffix`."""
        found = [s for s in self.of_type(token) if s["urn"].endswith(suffix)]
        assert len(found) == 1, f"{len(found)} {token} named *{suffix}: {[s['urn'] for s in self.of_type(token)]}"
        return found[0]

    def text(self) -> str:
        return json.dumps(self.data)


def plan(stack: str, **overrides: Any) -> Plan:
    """`overrides` replace whole config keys: plan("dev", **{"platform:network": {...}})."""
    key = json.dumps([stack, overrides], sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = Plan(build_plan(stack, overrides or None))
    return _CACHE[key]


def account(stack: str) -> str:
    """The AWS account a committed stack deploys into (the mocks' credentials are in it)."""
    return str(stack_config(stack)["platform:account"]["id"])


def stack_config(stack: str) -> dict[str, Any]:
    """The committed stack file's `config:` block."""
    import yaml

    with open(f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)["config"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param
