"""The uptime check (infra/components/uptime.py, issue 16 item 7) and the us-east-1 provider.

Specified here:
- who builds it: staging and prod with `observability.uptime` (as they will run it), one
  `platform:uptime:Uptime`; dev (no alerts) and a stack that turns uptime off, none;
- the Route 53 health check's exact inputs (the first API record, the configured path, interval
  and threshold, SNI, Route 53's default checker regions) and its CloudWatch alarm's;
- in us-east-1 the alarm notifies the stack's own alert topic, and no second provider, key or
  topic exists;
- in another region (eu-west-1, eu-south-2): the `aws-us-east-1` provider, the same account
  guard, roles and tags as the stack's; the alarm, its topic (+ policy), the topic's own key
  (+ alias) and the subscription in us-east-1; the Lambda permission beside the function in the
  stack's region; the key protected as the stack's keys; the health check itself global.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import plan
from tests.test_alerting import ACCOUNT, OBSERVABILITY

UPTIME = "platform:uptime:Uptime"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION = "aws:lambda/function:Function"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
PROVIDER = "pulumi:providers:aws"

STACKS = tuple(OBSERVABILITY)
HOST = {"staging": "api-staging.example.com", "prod": "api.example.com"}
PROTECTED = {"staging": (False, False), "prod": (True, True)}
ELSEWHERE = ("eu-west-1", "eu-south-2")


def uptime_plan(stack: str, region: str | None = None, **uptime: Any):
    observability = {**OBSERVABILITY[stack], "uptime": {"enabled": True, **uptime}}
    overrides: dict[str, Any] = {"platform:observability": observability}
    if region:
        overrides["aws:region"] = region
    return plan(stack, **overrides)


def _named(p, stack: str, token: str, suffix: str) -> dict[str, Any]:
    return p.named(token, f"::platform-{stack}-{suffix}")


def _provider_name(state: dict[str, Any]) -> str:
    """The logical name of the provider a resource is made through (`<urn>::<id>`)."""
    return state["provider"].rsplit("::", 2)[-2]


# ---------------------------------------------------------------------- who builds it


def test_uptime_where_configured_only():
    assert {s: len(uptime_plan(s).of_type(UPTIME)) for s in STACKS} == {"staging": 1, "prod": 1}
    assert plan("dev").of_type(HEALTH_CHECK) == []
    off = plan("staging", **{"platform:observability": {**OBSERVABILITY["staging"], "uptime": {"enabled": False}}})
    assert off.of_type(UPTIME) == [] and off.of_type(HEALTH_CHECK) == []
    assert [s["urn"] for s in off.of_type(ALARM) if "uptime" in s["urn"]] == []


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", [None, *ELSEWHERE])
def test_every_uptime_resource_is_a_child_of_the_component(stack, region):
    p = uptime_plan(stack, region)
    component = p.named(UPTIME, f"::platform-{stack}")["urn"]
    ours = [s for s in p.states if "-uptime" in s["urn"].rsplit("::", 1)[-1]]
    assert ours and all(s["parent"] == component for s in ours)


# ---------------------------------------------------------------------- the health check and its alarm


@pytest.mark.parametrize(
    ("stack", "uptime", "interval", "threshold", "path"),
    [("staging", {}, 30, 3, "/health"), ("prod", {}, 30, 3, "/health"),
     ("prod", {"request_interval_seconds": 10, "failure_threshold": 2, "path": "/v1/health"}, 10, 2, "/v1/health")],
)
def test_health_check(stack, uptime, interval, threshold, path):
    check = _named(uptime_plan(stack, **uptime), stack, HEALTH_CHECK, "uptime-check")
    assert check["inputs"] == {
        "type": "HTTPS",
        "fqdn": HOST[stack],
        "port": 443,
        "resourcePath": path,
        "requestInterval": interval,
        "failureThreshold": threshold,
        "enableSni": True,
        "tags": {"Name": f"platform-{stack}-api"},
    }
    # Route 53 is global: through the stack's own provider, wherever the stack is.
    assert _provider_name(check) == "aws"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", [None, *ELSEWHERE])
def test_the_alarm_pages_when_the_check_fails_and_lives_in_us_east_1(stack, region):
    p = uptime_plan(stack, region)
    alarm = _named(p, stack, ALARM, "uptime-alarm")
    elsewhere = region is not None
    topic = _named(p, stack, TOPIC, "uptime-topic" if elsewhere else "alerts")["outputs"]["arn"]
    assert topic.startswith("arn:aws:sns:us-east-1:")
    assert alarm["inputs"] == {
        "name": f"platform-{stack}-critical-uptime",
        "alarmDescription": f"[critical] API down: https://{HOST[stack]}/health fails Route 53's health check",
        "namespace": "AWS/Route53",
        "metricName": "HealthCheckStatus",
        "dimensions": {"HealthCheckId": _named(p, stack, HEALTH_CHECK, "uptime-check")["id"]},
        "statistic": "Minimum",
        "period": 60,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "threshold": 1,
        "comparisonOperator": "LessThanThreshold",
        "treatMissingData": "missing",
        "actionsEnabled": True,
        "alarmActions": [topic],
        "okActions": [topic],
    }
    assert alarm["outputs"]["arn"].startswith("arn:aws:cloudwatch:us-east-1:")
    assert _provider_name(alarm) == ("aws-us-east-1" if elsewhere else "aws")
    if elsewhere:
        assert _named(p, stack, TOPIC_POLICY, "uptime-topic-policy")["urn"] in alarm["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_paging_off_keeps_the_check_and_the_alarm_and_notifies_nobody(stack):
    """For an environment's first build: the app (deployed by CI, after this program) does not
    answer /health yet, and a new prod would page from its first minutes."""
    alarm = _named(uptime_plan(stack, paging=False), stack, ALARM, "uptime-alarm")
    assert alarm["inputs"]["actionsEnabled"] is False
    assert alarm["inputs"]["alarmActions"] == _named(uptime_plan(stack), stack, ALARM, "uptime-alarm")["inputs"]["alarmActions"]


# ---------------------------------------------------------------------- in us-east-1 and elsewhere


@pytest.mark.parametrize("stack", STACKS)
def test_in_us_east_1_nothing_is_duplicated(stack):
    p = uptime_plan(stack)
    assert [s["urn"].rsplit("::", 1)[-1] for s in p.of_type(PROVIDER)] == ["aws"]
    assert [s for s in p.states if s["type"] in (KEY, ALIAS, TOPIC, SUBSCRIPTION, PERMISSION) and "uptime" in s["urn"]] == []


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", ELSEWHERE)
def test_another_region_gets_a_us_east_1_provider_like_its_own(stack, region):
    p = uptime_plan(stack, region)
    providers = {s["urn"].rsplit("::", 1)[-1]: s["inputs"] for s in p.of_type(PROVIDER)}
    assert sorted(providers) == ["aws", "aws-us-east-1"]
    own, east = providers["aws"], providers["aws-us-east-1"]
    assert (own["region"], east["region"]) == (region, "us-east-1")
    assert {k: v for k, v in east.items() if k != "region"} == {k: v for k, v in own.items() if k != "region"}
    assert json.loads(east["allowedAccountIds"]) == [ACCOUNT[stack]]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", ELSEWHERE)
def test_another_region_makes_the_topic_and_its_key_in_us_east_1(stack, region):
    p = uptime_plan(stack, region)
    account = ACCOUNT[stack]
    key = _named(p, stack, KEY, "uptime-key")
    assert _provider_name(key) == "aws-us-east-1" and key["outputs"]["arn"].startswith(f"arn:aws:kms:us-east-1:{account}:key/")
    inputs = dict(key["inputs"])
    assert json.loads(inputs.pop("policy")) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountIamPoliciesGovernTheKey", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchAlarmsOfThisAccount", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
        ],
    }
    assert inputs == {"description": "platform-" + stack + ": the uptime alarm's SNS topic in us-east-1", "enableKeyRotation": True, "deletionWindowInDays": 30}
    assert (key["protect"], key["retainOnDelete"]) == PROTECTED[stack]
    alias = _named(p, stack, ALIAS, "uptime-key-alias")
    assert alias["inputs"] == {"name": f"alias/platform-{stack}-uptime", "targetKeyId": key["outputs"]["keyId"]} and _provider_name(alias) == "aws-us-east-1"

    topic = _named(p, stack, TOPIC, "uptime-topic")
    assert topic["inputs"] == {"kmsMasterKeyId": key["outputs"]["arn"]} and _provider_name(topic) == "aws-us-east-1"
    arn = topic["outputs"]["arn"]
    policy = _named(p, stack, TOPIC_POLICY, "uptime-topic-policy")
    assert _provider_name(policy) == "aws-us-east-1"
    (allow, deny) = json.loads(policy["inputs"]["policy"])["Statement"]
    assert allow["Resource"] == deny["Resource"] == arn
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{account}:alarm:*"}}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", ELSEWHERE)
def test_the_forwarder_in_its_region_is_subscribed_across_regions(stack, region):
    p = uptime_plan(stack, region)
    fn = _named(p, stack, FUNCTION, "forwarder")
    assert fn["outputs"]["arn"].startswith(f"arn:aws:lambda:{region}:") and _provider_name(fn) == "aws"
    topic = _named(p, stack, TOPIC, "uptime-topic")["outputs"]["arn"]
    permission = _named(p, stack, PERMISSION, "uptime-permission")
    assert permission["inputs"] == {"action": "lambda:InvokeFunction", "function": fn["outputs"]["arn"], "principal": "sns.amazonaws.com", "sourceArn": topic}
    assert _provider_name(permission) == "aws"
    subscription = _named(p, stack, SUBSCRIPTION, "uptime-subscription")
    assert subscription["inputs"] == {"topic": topic, "protocol": "lambda", "endpoint": fn["outputs"]["arn"]}
    assert _provider_name(subscription) == "aws-us-east-1"
    assert permission["urn"] in subscription["dependencies"]
    # The stack's own alarms stay in its region, on its own topic.
    own = _named(p, stack, TOPIC, "alerts")["outputs"]["arn"]
    assert own.startswith(f"arn:aws:sns:{region}:")
    cpu = _named(p, stack, ALARM, "alarm-db-cpu")
    assert cpu["inputs"]["alarmActions"] == [own] and _provider_name(cpu) == "aws"


@pytest.mark.parametrize("region", ELSEWHERE)
def test_the_policy_pack_passes_prod_in_another_region(region):
    from infra.review import check

    report = check.check_plan(uptime_plan("prod", region).data)
    assert report.mandatory == []
    assert [v for v in report.violations if "uptime" in v.urn] == []
