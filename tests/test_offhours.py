"""Off-hours: the cron helpers, and the schedules each committed stack gets (only dev sleeps)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.config import WorkingHours
from infra.components.offhours import cron, pause_expression, start_expression, stop_expression
from infra.offline.harness import ROOT, run_program
from tests.conftest import account, plan
from tests.test_lifecycle import UNIQUE_SUFFIX, reported_plan

SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE_ARN_PREFIX = f"arn:aws:iam::{account('dev')}:role/platform-dev-offhours-role-"


# ---------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("hhmm", "days", "expected"),
    [
        ("20:00", "MON-FRI", "cron(0 20 ? * MON-FRI *)"),
        ("08:00", "MON-FRI", "cron(0 8 ? * MON-FRI *)"),
        ("07:30", "MON-SAT", "cron(30 7 ? * MON-SAT *)"),
        ("00:05", "MON-SUN", "cron(5 0 ? * MON-SUN *)"),
        ("23:59", "MON-FRI", "cron(59 23 ? * MON-FRI *)"),
    ],
)
def test_cron(hhmm, days, expected):
    assert cron(hhmm, days) == expected


def test_start_and_stop_expressions_from_working_hours():
    hours = WorkingHours(timezone="Europe/Madrid", days="MON-FRI", start="08:15", stop="19:45")
    assert start_expression(hours) == "cron(15 8 ? * MON-FRI *)"
    assert stop_expression(hours) == "cron(45 19 ? * MON-FRI *)"
    # The autoscaler lets go of the groups five minutes before they stop.
    assert pause_expression(hours) == "cron(40 19 ? * MON-FRI *)"


@pytest.mark.parametrize(("stop", "pause"), [("20:00", "cron(55 19 ? * MON-FRI *)"), ("09:03", "cron(58 8 ? * MON-FRI *)"), ("23:59", "cron(54 23 ? * MON-FRI *)")])
def test_the_pause_comes_five_minutes_before_the_stop_across_the_hour(stop, pause):
    assert pause_expression(WorkingHours(start="08:00", stop=stop)) == pause


# ---------------------------------------------------------------------- per stack


def _schedules(stack: str, p=None) -> dict[str, dict]:
    p = p or plan(stack)
    return {s["urn"].rsplit("::", 1)[-1]: s["inputs"] for s in p.of_type(SCHEDULE)}


# The node group's EKS name as it reports it (a prefix plus EKS's unique suffix).
NODE_GROUP_NAME = f"platform-dev-general-{UNIQUE_SUFFIX}"


def _asg(p) -> str:
    """The Auto Scaling group EKS made for dev's general group, as the plan reads it back."""
    return p.named("aws:autoscaling/tag:Tag", "::platform-dev-general-asg-autoscaler")["inputs"]["autoscalingGroupName"]


def _autoscaler_tag(asg: str, value: str) -> dict:
    return {"Tags": [{"ResourceId": asg, "ResourceType": "auto-scaling-group", "Key": "platform/autoscaler", "Value": value, "PropagateAtLaunch": False}]}


def test_dev_sleeps_nights_and_weekends_in_madrid():
    p = reported_plan("dev")
    db_id = p.named("aws:rds/instance:Instance", "::platform-dev-db")["outputs"]["identifier"]
    schedules = _schedules("dev", p)
    asg = _asg(p)
    assert asg.startswith(f"eks-{NODE_GROUP_NAME}-")
    roles = ("db-stop", "db-start", "nodes-general-stop", "nodes-general-start", "nodes-general-pause", "nodes-general-resume")
    assert set(schedules) == {f"platform-dev-offhours-{role}" for role in roles}
    expected = {
        "db-stop": ("cron(0 20 ? * MON-FRI *)", "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance", {"DbInstanceIdentifier": db_id}),
        "db-start": ("cron(0 8 ? * MON-FRI *)", "arn:aws:scheduler:::aws-sdk:rds:startDBInstance", {"DbInstanceIdentifier": db_id}),
        "nodes-general-stop": (
            "cron(0 20 ? * MON-FRI *)",
            "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig",
            {"ClusterName": "platform-dev", "NodegroupName": NODE_GROUP_NAME, "ScalingConfig": {"MinSize": 0, "DesiredSize": 0, "MaxSize": 3}},
        ),
        "nodes-general-start": (
            "cron(0 8 ? * MON-FRI *)",
            "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig",
            {"ClusterName": "platform-dev", "NodegroupName": NODE_GROUP_NAME, "ScalingConfig": {"MinSize": 1, "DesiredSize": 2, "MaxSize": 3}},
        ),
        # Before the stop the autoscaler lets go of the group (it discovers and may scale only
        # groups tagged enabled), so the pods the stop evicts cannot bring a node back.
        "nodes-general-pause": ("cron(55 19 ? * MON-FRI *)", "arn:aws:scheduler:::aws-sdk:autoscaling:createOrUpdateTags", _autoscaler_tag(asg, "paused")),
        "nodes-general-resume": ("cron(0 8 ? * MON-FRI *)", "arn:aws:scheduler:::aws-sdk:autoscaling:createOrUpdateTags", _autoscaler_tag(asg, "enabled")),
    }
    for role, (expression, target_arn, payload) in expected.items():
        inputs = schedules[f"platform-dev-offhours-{role}"]
        assert inputs["scheduleExpression"] == expression
        assert inputs["scheduleExpressionTimezone"] == "Europe/Madrid"
        assert inputs["flexibleTimeWindow"] == {"mode": "OFF"}
        assert inputs["state"] == "ENABLED"
        target = inputs["target"]
        assert target["arn"] == target_arn
        assert json.loads(target["input"]) == payload
        assert target["roleArn"].startswith(ROLE_ARN_PREFIX)
        # A missed stop or start is retried for an hour, not for a day.
        assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 10}


def test_dev_role_is_least_privilege():
    p = reported_plan("dev")
    role = p.named("aws:iam/role:Role", "::platform-dev-offhours-role")
    (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account("dev")}}
    policy = p.named("aws:iam/rolePolicy:RolePolicy", "::platform-dev-offhours-policy")
    assert policy["inputs"]["role"] == role["outputs"]["name"]
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    db_id = p.named("aws:rds/instance:Instance", "::platform-dev-db")["outputs"]["identifier"]
    assert statements == [
        {"Sid": "StopStartTheDatabase", "Effect": "Allow", "Action": ["rds:StopDBInstance", "rds:StartDBInstance"], "Resource": f"arn:aws:rds:us-east-1:{account('dev')}:db:{db_id}"},
        {"Sid": "ScaleTheNodeGroups", "Effect": "Allow", "Action": "eks:UpdateNodegroupConfig", "Resource": [f"arn:aws:eks:us-east-1:{account('dev')}:nodegroup/platform-dev/{NODE_GROUP_NAME}/*"]},
        {
            "Sid": "PauseAndResumeTheAutoscaler",
            "Effect": "Allow",
            "Action": "autoscaling:CreateOrUpdateTags",
            "Resource": [f"arn:aws:autoscaling:us-east-1:{account('dev')}:autoScalingGroup:*:autoScalingGroupName/{_asg(p)}"],
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["platform/autoscaler"]}},
        },
    ]
    # Every schedule waits for the permissions it needs.
    for schedule in p.of_type(SCHEDULE):
        assert policy["urn"] in schedule["dependencies"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_never_sleep(stack):
    p = plan(stack)
    assert p.of_type(SCHEDULE) == []
    assert p.of_type("platform:offhours:OffHours") == []


def test_nodes_only_other_zone_and_days():
    database = {"instance_class": "db.t3.micro", "allocated_storage_gb": 20, "max_allocated_storage_gb": 50, "multi_az": False, "backup_retention_days": 1, "stop_off_hours": False}
    hours = {"timezone": "America/New_York", "days": "MON-SAT", "start": "07:30", "stop": "19:15"}
    p = plan("dev", **{"platform:database": database, "platform:working_hours": hours})
    schedules = _schedules("dev", p)
    assert set(schedules) == {f"platform-dev-offhours-nodes-general-{role}" for role in ("stop", "start", "pause", "resume")}
    assert schedules["platform-dev-offhours-nodes-general-stop"]["scheduleExpression"] == "cron(15 19 ? * MON-SAT *)"
    assert schedules["platform-dev-offhours-nodes-general-pause"]["scheduleExpression"] == "cron(10 19 ? * MON-SAT *)"
    assert schedules["platform-dev-offhours-nodes-general-start"]["scheduleExpression"] == "cron(30 7 ? * MON-SAT *)"
    assert {s["scheduleExpressionTimezone"] for s in schedules.values()} == {"America/New_York"}
    statements = json.loads(p.named("aws:iam/rolePolicy:RolePolicy", "::platform-dev-offhours-policy")["inputs"]["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["ScaleTheNodeGroups", "PauseAndResumeTheAutoscaler"]


# ---------------------------------------------------------------------- validation

PROGRAM = """
from infra import config
from infra.components.offhours import NodeGroupScaling, OffHours, OffHoursArgs

cfg = config.load()
OffHours(cfg.name, OffHoursArgs(working_hours=cfg.working_hours, node_groups={groups}))
"""


def _run(tmp_path: Path, groups: str):
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM.format(groups=groups), encoding="utf-8")
    return run_program("dev", root=tmp_path)


def test_nothing_to_schedule_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing|database or at least one node group") as info:
        _run(tmp_path, "[]")
    assert [r.type for r in info.value.registered] in ([], ["platform:offhours:OffHours"])


def test_bad_sizes_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="min <= desired <= max"):
        _run(tmp_path, "[NodeGroupScaling('c', 'c-g', 2, 1, 3, key='g')]")


def test_unnamed_groups_are_keyed_by_position(tmp_path):
    run = _run(tmp_path, "[('c', 'c-a', 1, 1, 2), ('c', 'c-b', 0, 1, 2)]")
    names = sorted(r.name for r in run.registrations if r.type == SCHEDULE)
    assert names == [f"platform-dev-offhours-nodes-{i}-{op}" for i in (1, 2) for op in ("start", "stop")]
