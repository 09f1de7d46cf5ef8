"""Every PromQL expression the committed plans ship parses with Prometheus's own grammar.

The rules go to kube-prometheus-stack's `additionalPrometheusRulesMap`, which the chart turns
into PrometheusRule objects; the operator's admission webhook refuses a rule that does not
parse, and with it the whole Helm release. Dashboards' Prometheus queries would only show an
error panel, but are the same language. The parser is @prometheus-io/lezer-promql (the one
Prometheus's web UI uses), run by tools/promql/check.mjs under Node: no mock, no regex.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import STACKS, plan

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "tools" / "promql" / "check.mjs"
RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def parse_errors(expressions: list[str]) -> list[list[int]]:
    """Per expression, the offsets where the parser recovered from an error ([] = valid)."""
    node = shutil.which("node")
    if node is None or not (CHECK.parent / "node_modules" / "@prometheus-io" / "lezer-promql" / "package.json").is_file():
        pytest.fail("the PromQL parser is not installed; run `npm ci --prefix tools/promql` (`make test` does it)", pytrace=False)
    done = subprocess.run([node, str(CHECK)], input=json.dumps(expressions), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def shipped(stack: str) -> list[tuple[str, str]]:
    """(where, expression) for every rule of the monitoring release and every Prometheus panel query."""
    p = plan(stack)
    found: list[tuple[str, str]] = []
    for release in p.of_type(RELEASE):
        for name, group_file in ((release["inputs"].get("values") or {}).get("additionalPrometheusRulesMap") or {}).items():
            for group in group_file["groups"]:
                found += [(f"{name}/{rule.get('alert') or rule.get('record')}", rule["expr"]) for rule in group["rules"]]
    for config_map in p.of_type(CONFIG_MAP):
        for key, text in (config_map["inputs"].get("data") or {}).items():
            if not key.endswith(".json"):
                continue
            dashboard: dict[str, Any] = json.loads(text)
            for panel in dashboard.get("panels", []):
                if panel.get("datasource", {}).get("type") == "prometheus":
                    found += [(f"{dashboard['uid']}/{panel['title']}", target["expr"]) for target in panel["targets"]]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_expression_parses(stack: str) -> None:
    expressions = shipped(stack)
    if stack != "dev":  # dev runs no alerting; staging and prod ship rules and dashboards
        assert {where.split("/")[0] for where, _ in expressions} >= {"platform", "platform-cluster", "platform-app"}
    errors = parse_errors([expr for _, expr in expressions])
    assert [(where, expr) for (where, expr), at in zip(expressions, errors) if at] == []


def test_the_parser_refuses_what_the_webhook_would() -> None:
    assert [bool(e) for e in parse_errors([
        'max by (namespace, job_name) (kube_job_status_failed{namespace="platform-db"}) > 0',
        "(time() - max by (a) (x) > 3600) or (time() - y > 3600 unless on (a) x)",
        "sum(rate(x[5m]) > 0",  # an unclosed call
        'x{namespace="a"',  # an unclosed matcher
        "rate(x[5 m])",  # a duration with a space
        "x > > 1",
    ])] == [False, False, True, True, True, True]  # fmt: skip
