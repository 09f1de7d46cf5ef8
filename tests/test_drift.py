"""Drift (infra/review/drift.py): a refreshed preview's changes, the platform's own left out.

Specified by a table of refresh outcomes: the node group sizes the autoscaler and the schedule
move, and the off-hours pause of the autoscaler, are expected; a console edit, a deleted
resource and a replacement are drift, reported with every path they change.
"""

from __future__ import annotations

import json

import pytest

from infra import cli
from infra.review import drift

NG = "urn:pulumi:dev::platform::platform:cluster:Cluster$eks:index:ManagedNodeGroup$aws:eks/nodeGroup:NodeGroup::platform-dev-general"
TAG = "urn:pulumi:dev::platform::platform:scaling:Scaling$aws:autoscaling/tag:Tag::platform-dev-general-asg-autoscaler"
LABEL_TAG = "urn:pulumi:dev::platform::platform:scaling:Scaling$aws:autoscaling/tag:Tag::platform-dev-general-asg-label-capacity-type"
SG = "urn:pulumi:dev::platform::platform:network:Network$aws:ec2/securityGroup:SecurityGroup::platform-dev-nodes-sg"
DB = "urn:pulumi:dev::platform::platform:database:Database$aws:rds/instance:Instance::platform-dev-db"


def step(op: str, urn: str, inputs: dict | None = None, detailed: dict | None = None, reasons: list | None = None) -> dict:
    kind = urn.split("::")[-2].rsplit("$", 1)[-1]
    out = {"op": op, "urn": urn, "newState": {"type": kind, "urn": urn, "inputs": inputs or {}}}
    if detailed is not None:
        out["detailedDiff"] = {path: {"kind": "update", "inputDiff": True} for path in detailed}
    if reasons is not None:
        out["diffReasons"] = reasons
    return out


PAUSE = {"tag": {"key": "platform/autoscaler", "value": "enabled", "propagateAtLaunch": False}}
LABEL = {"tag": {"key": "k8s.io/cluster-autoscaler/node-template/label/eks.amazonaws.com/capacityType", "value": "SPOT", "propagateAtLaunch": False}}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # the autoscaler grew the group, the schedule put it to sleep
        (step("update", NG, detailed=["scalingConfig.desiredSize"]), True),
        (step("update", NG, detailed=["scalingConfig.minSize", "scalingConfig.desiredSize"]), True),
        (step("update", NG, reasons=["scalingConfig"]), True),
        # ... but a console edit of the group's labels is not theirs
        (step("update", NG, detailed=["scalingConfig.desiredSize", "labels.team"]), False),
        # the off-hours pause of the autoscaler
        (step("update", TAG, PAUSE, detailed=["tag.value"]), True),
        # another tag's value changed by hand, or the pause tag's key
        (step("update", LABEL_TAG, LABEL, detailed=["tag.value"]), False),
        (step("update", TAG, PAUSE, detailed=["tag.key"]), False),
        # a security group rule opened in the console
        (step("update", SG, detailed=["ingress[0].cidrBlocks[0]"]), False),
        # deleted outside Pulumi (the refresh dropped it: the preview creates it), or rebuilt
        (step("create", DB), False),
        (step("replace", NG, detailed=["scalingConfig.desiredSize"]), False),
        # an update with no detail at all is reported, never assumed harmless
        (step("update", NG), False),
    ],
    ids=["desired", "min-and-desired", "reasons-only", "labels", "pause", "other-tag", "pause-key", "sg", "deleted", "replaced", "no-detail"],
)
def test_what_counts_as_expected(case, expected):
    assert drift.is_expected(case) is expected


def test_a_report_lists_drift_and_counts_the_rest():
    preview = {
        "steps": [
            step("same", "urn:pulumi:dev::platform::pulumi:pulumi:Stack::platform-dev"),
            step("same", DB),
            step("update", NG, detailed=["scalingConfig.desiredSize"]),
            step("update", TAG, PAUSE, detailed=["tag.value"]),
            step("update", SG, detailed=["ingress[0].cidrBlocks[0]", "description"]),
            step("create", DB.replace("platform-dev-db", "platform-dev-db-replica-1")),
        ]
    }
    report = drift.drift(preview)
    assert drift.format_text(report) == [
        "drift update platform-dev-nodes-sg (aws:ec2/securityGroup:SecurityGroup): description, ingress[0].cidrBlocks[0]",
        "drift create platform-dev-db-replica-1 (aws:rds/instance:Instance): no property detail",
        "drift: 2 drifted resource(s), 2 expected change(s) ignored, 2 unchanged",
    ]
    body = drift.format_markdown(report, "dev")
    assert "| `platform-dev-nodes-sg` | `aws:ec2/securityGroup:SecurityGroup` | update | `description`, `ingress[0].cidrBlocks[0]` |" in body
    assert body[0].startswith("The nightly refresh of stack `dev` found resources that changed outside Pulumi.")


def test_a_clean_refresh_is_one_line():
    report = drift.drift({"steps": [step("same", DB), step("update", TAG, PAUSE, detailed=["tag.value"])]})
    assert drift.format_markdown(report, "prod") == ["No drift in stack `prod`: every resource matches the program (1 expected change(s) ignored)."]


@pytest.mark.parametrize(("steps", "code"), [([step("same", DB)], 0), ([step("update", SG, detailed=["description"])], 1)])
def test_the_cli_exits_1_on_drift(tmp_path, capsys, steps, code):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"steps": steps}), encoding="utf-8")
    assert cli.main(["drift", "--preview", str(path), "--stack", "dev"]) == code
    assert capsys.readouterr().out.splitlines()[-1].startswith("drift: ")


@pytest.mark.parametrize("content", ["not json", "[1, 2]"])
def test_an_unreadable_preview_is_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "preview.json"
    path.write_text(content, encoding="utf-8")
    assert cli.main(["drift", "--preview", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"drift: {path}") or err.startswith(f"drift: cannot read {path}")
    assert err.count("\n") == 1


# ---------------------------------------------------------------------------- the nightly workflow

FAKE_GH = """#!/usr/bin/env bash
# Logs every call; `gh issue list` answers with $FAKE_OPEN_ISSUE (the open drift issue's number, or nothing).
echo "gh $*" >> "$FAKE_GH_LOG"
if [ "$1 $2" = "issue list" ]; then [ -n "$FAKE_OPEN_ISSUE" ] && echo "$FAKE_OPEN_ISSUE"; fi
exit 0
"""


@pytest.mark.parametrize(
    ("steps", "open_issue", "calls"),
    [
        ([step("update", SG, detailed=["description"])], "", ["gh issue create --title Drift: stack staging --label drift --body-file body.md"]),
        ([step("update", SG, detailed=["description"])], "42", ["gh issue edit 42 --body-file body.md"]),
        ([step("same", DB)], "42", ["gh issue close 42 --comment No drift in stack `staging`: every resource matches the program (0 expected change(s) ignored)."]),
        ([step("same", DB), step("update", NG, detailed=["scalingConfig.desiredSize"])], "", []),
    ],
    ids=["drift-opens", "drift-updates", "clean-closes", "clean-stays-quiet"],
)
def test_the_drift_issue_follows_the_stack(tmp_path, steps, open_issue, calls):
    from tests.test_workflows import ROOT, _run_step, _step

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "preview.json").write_text(json.dumps({"steps": steps}), encoding="utf-8")
    log = tmp_path / "gh.log"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "FAKE_GH_LOG": str(log), "FAKE_OPEN_ISSUE": open_issue, "STACK": "staging", "GH_TOKEN": "t"}
    code, stdout, _ = _run_step(_step("drift.yml", "drift", "Open, update or close the drift issue"), env, tmp_path)
    assert code == 0, stdout
    made = [line for line in log.read_text().splitlines() if not line.startswith(("gh label create", "gh issue list"))]
    assert made == calls
    # A drifted stack also says so in the run's summary of annotations.
    drifted = any(call.split()[2] in ("create", "edit") for call in calls)
    assert ("::warning title=drift (staging)::" in stdout) is drifted


def test_a_failed_preview_is_no_verdict(tmp_path, capsys):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"steps": [step("refresh", DB)], "diagnostics": [{"severity": "error", "message": "403"}]}), encoding="utf-8")
    assert cli.main(["drift", "--preview", str(path)]) == 2
    assert capsys.readouterr().err == f"drift: the preview in {path} failed (1 error diagnostic(s)); no verdict\n"
