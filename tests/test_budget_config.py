"""The Budget component built from each committed stack's `platform:budget`, under the mocks harness.

The program run here is a two-line stand-in for `__main__.py` (load the config, build the
Budget) so the component is checked on its own, with the real config loading and the same
mocks as the offline plan.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.offline.harness import ROOT, run_program

PROGRAM = '''
import pulumi
from infra import config
from infra.components.budget import Budget, BudgetArgs

cfg = config.load()
budget = Budget(cfg.name, BudgetArgs(config=cfg.budget, environment=cfg.environment, tags=cfg.base_tags()))
pulumi.export("budget_name", budget.budget_name)
'''


def _run(tmp_path: Path, stack: str, **overrides):
    shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM, encoding="utf-8")
    return run_program(stack, root=tmp_path, overrides=overrides or None)


def _budget(run):
    [component] = [r for r in run.registrations if r.type == "platform:budget:Budget"]
    [budget] = [r for r in run.registrations if r.type == "aws:budgets/budget:Budget"]
    assert budget.parent == component.urn
    assert budget.urn.endswith(f"::platform-{run.stack}-monthly")
    return budget.inputs


@pytest.mark.parametrize(
    ("stack", "limit", "emails"),
    [
        ("dev", "200.00", []),
        ("staging", "500.00", ["platform-team@example.com"]),
        ("prod", "1800.00", ["platform-team@example.com", "oncall@example.com"]),
    ],
)
def test_budget_per_stack(tmp_path, stack, limit, emails):
    run = _run(tmp_path, stack)
    inputs = _budget(run)
    assert (inputs["budgetType"], inputs["timeUnit"], inputs["limitAmount"], inputs["limitUnit"]) == ("COST", "MONTHLY", limit, "USD")
    assert inputs["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:Environment${stack}"]}]
    assert inputs["tags"]["Environment"] == stack
    expected = [
        {"comparisonOperator": "GREATER_THAN", "notificationType": "ACTUAL", "threshold": 80, "thresholdType": "PERCENTAGE", "subscriberEmailAddresses": emails},
        {"comparisonOperator": "GREATER_THAN", "notificationType": "FORECASTED", "threshold": 100, "thresholdType": "PERCENTAGE", "subscriberEmailAddresses": emails},
    ]
    # dev has no addresses: a notification without subscribers is rejected by AWS.
    assert inputs.get("notifications", []) == (expected if emails else [])
    name, secret, known = run.outputs["budget_name"]
    assert name and not secret and known


def test_thresholds_and_odd_limit_come_from_config(tmp_path):
    budget = {"monthly_limit_usd": 612.5, "alert_emails": ["a@example.com"], "actual_threshold_pct": 50, "forecast_threshold_pct": 120}
    inputs = _budget(_run(tmp_path, "staging", **{"platform:budget": budget}))
    assert inputs["limitAmount"] == "612.50"
    assert [(n["notificationType"], n["threshold"]) for n in inputs["notifications"]] == [("ACTUAL", 50), ("FORECASTED", 120)]
