"""Alerting on AWS (infra/components/alerting.py, infra/alarms.py; issue 16 items 6-7).

Specified here, per stack, with `platform:observability` as staging (Slack only) and prod
(PagerDuty + Slack) run it:
- who builds it: staging and prod one `platform:alerting:Alerting`, every resource its child;
  dev (alerts off) nothing, and no alarm;
- the topic (the stack's key), its policy (this account's CloudWatch alarms of this region
  only, TLS only) and the key-policy statement that lets CloudWatch encrypt with the key;
- the destinations secret (the stack's key, protected as the stack's secrets) and that neither
  secret's value, nor its offline placeholder, appears anywhere in the plan;
- the forwarder: its Lambda function, log group, role and policy, subscription and permission;
- the alarms, exactly: names, dimensions, statistics, periods, thresholds, severities; the
  load balancer's Metrics Insights query over the NLB the edge names; ALARM and OK actions to
  the topic, after its policy;
- the pure definitions: max_connections per class (an unknown class refused by name), member
  cluster ids, the query, the counts the cost model prices;
- `python -m infra check` passes both plans (the new sns-topic-cmk rule among the others).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import alarms
from infra.config import CacheConfig, DatabaseConfig, parse
from infra.offline.harness import placeholder
from tests.conftest import plan, stack_config

# `platform:observability` as the committed stacks will have it.
OBSERVABILITY = {
    "staging": {"alerts": {"enabled": True, "slack": {"channel": "#alerts-staging"}}, "uptime": {"enabled": True}},
    "prod": {
        "metrics": {"retention_days": 90, "long_term_days": 395},
        "logs": {"retention_days": 30},
        "traces": {"retention_days": 7},
        "alerts": {"enabled": True, "slack": {"channel": "#alerts-prod"}, "pagerduty": {}},
        "uptime": {"enabled": True},
    },
}
ALERTING_STACKS = tuple(OBSERVABILITY)
ACCOUNT = {"staging": "210987654321", "prod": "123456789012"}
# (SLACK_SEVERITIES, PAGERDUTY_SEVERITIES, the secret's keys) per stack.
ROUTES = {"staging": ("critical,warning", "", ["slack_webhook_url"]), "prod": ("critical,warning", "critical", ["slack_webhook_url", "pagerduty_routing_key"])}
PROTECTED = {"staging": (False, False), "prod": (True, True)}

ALERTING = "platform:alerting:Alerting"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
ALERTING_TYPES = (ALARM, TOPIC, TOPIC_POLICY, SUBSCRIPTION, FUNCTION, PERMISSION)

GIB = 1024**3


def alerting_plan(stack: str, **more: Any):
    return plan(stack, **{"platform:observability": OBSERVABILITY[stack]}, **more)


def _named(stack: str, token: str, suffix: str) -> dict[str, Any]:
    return alerting_plan(stack).named(token, f"::platform-{stack}-{suffix}")


def _arn(stack: str, token: str, suffix: str) -> str:
    return _named(stack, token, suffix)["outputs"]["arn"]


def _key_arn(stack: str) -> str:
    return _arn(stack, KEY, "key")


def _config(stack: str):
    raw = {k.removeprefix("platform:"): v for k, v in stack_config(stack).items() if k.startswith("platform:")}
    raw["observability"] = OBSERVABILITY[stack]
    return parse(raw, stack=stack, aws={"region": "us-east-1"})


# ---------------------------------------------------------------------- who builds it


def test_alerting_stacks_build_one_component_and_dev_none():
    assert {s: len(alerting_plan(s).of_type(ALERTING)) for s in ALERTING_STACKS} == {"staging": 1, "prod": 1}
    dev = plan("dev")
    assert dev.of_type(ALERTING) == [] and dev.of_type(ALARM) == [] and dev.of_type(TOPIC) == [] and dev.of_type(FUNCTION) == []


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_every_alerting_resource_is_a_child_of_the_component(stack):
    p = alerting_plan(stack)
    component = p.named(ALERTING, f"::platform-{stack}")["urn"]
    children = [s for token in (*ALERTING_TYPES, SECRET, SECRET_VERSION, LOG_GROUP, ROLE, ROLE_POLICY) for s in p.of_type(token) if s["parent"] == component]
    # The uptime alarm is the Uptime component's (tests/test_uptime.py).
    assert {s["urn"] for s in children} == {s["urn"] for token in ALERTING_TYPES for s in p.of_type(token) if "uptime" not in s["urn"]} | {
        _named(stack, t, n)["urn"] for t, n in ((SECRET, "alert-destinations"), (SECRET_VERSION, "alert-destinations-value"), (LOG_GROUP, "forwarder-logs"), (ROLE, "forwarder-role"), (ROLE_POLICY, "forwarder-policy"))
    }


# ---------------------------------------------------------------------- the topic and the key


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_topic_is_encrypted_with_the_stacks_key(stack):
    assert _named(stack, TOPIC, "alerts")["inputs"] == {"kmsMasterKeyId": _key_arn(stack)}


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_topic_policy_admits_this_accounts_alarms_only_over_tls(stack):
    account, topic = ACCOUNT[stack], _arn(stack, TOPIC, "alerts")
    policy = _named(stack, TOPIC_POLICY, "alerts-policy")
    assert policy["inputs"]["arn"] == topic
    assert json.loads(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsOfThisAccount", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": topic,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{account}:alarm:*"}},
            },
            {
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stacks_key_lets_this_accounts_alarms_encrypt_their_topic(stack):
    p = alerting_plan(stack) if stack in OBSERVABILITY else plan(stack)
    statements = {s["Sid"]: s for s in json.loads(p.named(KEY, f"::platform-{stack}-key")["inputs"]["policy"])["Statement"]}
    assert statements["CloudWatchAlarmsOfThisAccount"] == {
        "Sid": "CloudWatchAlarmsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"dev": "210987654321", **ACCOUNT}[stack]}},
    }


# ---------------------------------------------------------------------- the destinations


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_destinations_secret(stack):
    secret = _named(stack, SECRET, "alert-destinations")
    destinations = "slack" if stack == "staging" else "slack, pagerduty"
    assert secret["inputs"] == {
        "description": f"platform-{stack}: where the alert forwarder sends CloudWatch alarms ({destinations})",
        "kmsKeyId": _key_arn(stack),
        "recoveryWindowInDays": 30 if PROTECTED[stack][0] else 7,
    }
    assert (secret["protect"], secret["retainOnDelete"]) == PROTECTED[stack]
    version = _named(stack, SECRET_VERSION, "alert-destinations-value")
    assert version["inputs"] == {"secretId": secret["outputs"]["arn"], "secretString": "[secret]"}


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_no_destination_secret_appears_in_the_plan(stack):
    text = alerting_plan(stack).text()
    for key in ("slack_webhook_url", "pagerduty_routing_key"):
        assert placeholder(f"platform:{key}") not in text
    # The monitoring component's Alertmanager gets the same secrets: also masked.
    assert "offline-placeholder-platform-" not in text


# ---------------------------------------------------------------------- the forwarder


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_forwarder_function(stack):
    from pathlib import Path
    import hashlib

    slack, pagerduty, _ = ROUTES[stack]
    fn = _named(stack, FUNCTION, "forwarder")
    source = Path(__file__).resolve().parents[1] / "infra" / "alert_forwarder" / "handler.py"
    to = "slack" if stack == "staging" else "slack and pagerduty"
    assert fn["inputs"] == {
        "description": f"platform-{stack}: CloudWatch alarms from SNS to {to}",
        "runtime": "python3.13",
        "handler": "handler.handler",
        "code": {
            "4dabf18193072939515e22adb298388d": "0def7320c3a5731c473e5ecbe6d01bc7",
            "assets": {"handler.py": {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", "path": "infra/alert_forwarder/handler.py", "hash": hashlib.sha256(source.read_bytes()).hexdigest()}},
        },
        "role": _arn(stack, ROLE, "forwarder-role"),
        "timeout": 30,
        "memorySize": 128,
        "environment": {"variables": {
            "DESTINATIONS_SECRET_ARN": _arn(stack, SECRET, "alert-destinations"), "ENVIRONMENT": stack, "SLACK_SEVERITIES": slack, "PAGERDUTY_SEVERITIES": pagerduty,
        }},
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/platform/{stack}/alert-forwarder", "applicationLogLevel": "INFO", "systemLogLevel": "WARN"},
    }
    # Created once it can log and read its secret.
    for token, suffix in ((ROLE_POLICY, "forwarder-policy"), (LOG_GROUP, "forwarder-logs")):
        assert _named(stack, token, suffix)["urn"] in fn["dependencies"]


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_forwarder_log_group_role_and_policy(stack):
    account = ACCOUNT[stack]
    group = f"arn:aws:logs:us-east-1:{account}:log-group:/platform/{stack}/alert-forwarder"
    assert _named(stack, LOG_GROUP, "forwarder-logs")["inputs"] == {"name": f"/platform/{stack}/alert-forwarder", "retentionInDays": 365, "kmsKeyId": _key_arn(stack)}
    role = _named(stack, ROLE, "forwarder-role")
    assert json.loads(role["inputs"]["assumeRolePolicy"]) == {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    policy = _named(stack, ROLE_POLICY, "forwarder-policy")
    assert policy["inputs"]["role"] == role["outputs"]["name"]
    assert json.loads(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [group, f"{group}:*"]},
            {"Sid": "ReadDestinations", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": _arn(stack, SECRET, "alert-destinations")},
            {"Sid": "DecryptDestinations", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": _key_arn(stack),
             "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}},
        ],
    }


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_the_topic_invokes_the_forwarder(stack):
    topic, fn = _arn(stack, TOPIC, "alerts"), _arn(stack, FUNCTION, "forwarder")
    permission = _named(stack, PERMISSION, "forwarder-permission")
    assert permission["inputs"] == {"action": "lambda:InvokeFunction", "function": fn, "principal": "sns.amazonaws.com", "sourceArn": topic}
    subscription = _named(stack, SUBSCRIPTION, "forwarder-subscription")
    assert subscription["inputs"] == {"topic": topic, "protocol": "lambda", "endpoint": fn}
    assert permission["urn"] in subscription["dependencies"]


# ---------------------------------------------------------------------- the alarms


def _ids(stack: str) -> dict[str, str]:
    p = alerting_plan(stack)
    out = {"db": p.named("aws:rds/instance:Instance", f"::platform-{stack}-db")["outputs"]["identifier"]}
    out |= {f"db-replica-{i}": s["outputs"]["identifier"] for i, s in enumerate(sorted(
        (s for s in p.of_type("aws:rds/instance:Instance") if "-db-replica-" in s["urn"]), key=lambda s: s["urn"]), start=1)}
    out["redis"] = p.named("aws:elasticache/replicationGroup:ReplicationGroup", f"::platform-{stack}-redis")["outputs"]["replicationGroupId"]
    out["cert"] = p.named("aws:acm/certificate:Certificate", f"::platform-{stack}-cert")["outputs"]["arn"]
    return out


# role -> (severity, namespace, metric, statistic, period, evaluation periods, threshold, comparison, missing data)
def _db_rows(role: str, free_bytes: int, connections: int, free_severity: str, replica: bool) -> dict[str, tuple]:
    rows = {
        f"{role}-cpu": ("warning", "AWS/RDS", "CPUUtilization", "Average", 300, 3, 80, "GreaterThanThreshold", "missing"),
        f"{role}-free-storage": (free_severity, "AWS/RDS", "FreeStorageSpace", "Minimum", 300, 1, free_bytes, "LessThanThreshold", "missing"),
        f"{role}-connections": ("warning", "AWS/RDS", "DatabaseConnections", "Maximum", 300, 2, connections, "GreaterThanThreshold", "missing"),
    }
    if replica:
        # database.standby_delay_seconds (900: the data copy's dump may hold replay that long) + 300
        rows[f"{role}-lag"] = ("warning", "AWS/RDS", "ReplicaLag", "Maximum", 300, 2, 1200, "GreaterThanThreshold", "missing")
    return rows


def _cache_rows(node: str) -> dict[str, tuple]:
    return {
        f"redis-{node}-engine-cpu": ("warning", "AWS/ElastiCache", "EngineCPUUtilization", "Average", 300, 3, 80, "GreaterThanThreshold", "missing"),
        f"redis-{node}-memory": ("warning", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Maximum", 300, 3, 80, "GreaterThanThreshold", "missing"),
        f"redis-{node}-evictions": ("critical", "AWS/ElastiCache", "Evictions", "Sum", 300, 1, 0, "GreaterThanThreshold", "notBreaching"),
    }


# Breaching when missing: ACM stops publishing DaysToExpiry once the certificate expired; two days of it alarm.
CERT_ROW = {"certificate-expiry": ("warning", "AWS/CertificateManager", "DaysToExpiry", "Minimum", 86400, 2, 30, "LessThanThreshold", "breaching")}
# staging: db.t3.medium (4 GiB: 450 connections), 100 GiB, storage autoscaling on; 2 cache nodes.
# prod: db.m5.large (8 GiB: 901), 500 GiB, autoscaling on, one replica; 2 cache nodes.
ALARMS = {
    "staging": {**_db_rows("db", 10 * GIB, 360, "warning", False), **_cache_rows("001"), **_cache_rows("002"), **CERT_ROW},
    "prod": {
        **_db_rows("db", 50 * GIB, 720, "warning", False), **_db_rows("db-replica-1", 50 * GIB, 720, "warning", True),
        **_cache_rows("001"), **_cache_rows("002"), **CERT_ROW,
    },
}


def _dimensions(stack: str, role: str) -> dict[str, str]:
    ids = _ids(stack)
    if role.startswith("db-replica-"):
        return {"DBInstanceIdentifier": ids["-".join(role.split("-")[:3])]}
    if role.startswith("db-"):
        return {"DBInstanceIdentifier": ids["db"]}
    if role.startswith("redis-"):
        return {"CacheClusterId": f"{ids['redis']}-{role.split('-')[1]}", "CacheNodeId": "0001"}
    return {"CertificateArn": ids["cert"]}


def _alarms(stack: str) -> dict[str, dict[str, Any]]:
    prefix = f"::platform-{stack}-alarm-"
    return {s["urn"].split(prefix, 1)[1]: s for s in alerting_plan(stack).of_type(ALARM) if prefix in s["urn"]}


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_the_stacks_alarms_are_exactly_these(stack):
    assert sorted(_alarms(stack)) == sorted([*ALARMS[stack], "nlb-unhealthy-targets"])


@pytest.mark.parametrize(("stack", "role"), [(s, r) for s in ALERTING_STACKS for r in ALARMS[s]])
def test_metric_alarm(stack, role):
    severity, namespace, metric, statistic, period, periods, threshold, comparison, missing = ALARMS[stack][role]
    alarm = _alarms(stack)[role]
    topic = _arn(stack, TOPIC, "alerts")
    inputs = dict(alarm["inputs"])
    description = inputs.pop("alarmDescription")
    assert description.startswith(f"[{severity}] ")
    assert inputs == {
        "name": f"platform-{stack}-{severity}-{role}",
        "namespace": namespace,
        "metricName": metric,
        "dimensions": _dimensions(stack, role),
        "statistic": statistic,
        "period": period,
        "evaluationPeriods": periods,
        "datapointsToAlarm": periods,
        "threshold": threshold,
        "comparisonOperator": comparison,
        "treatMissingData": missing,
        "actionsEnabled": True,
        "alarmActions": [topic],
        "okActions": [topic],
    }
    # Only once the topic lets CloudWatch publish.
    assert _named(stack, TOPIC_POLICY, "alerts-policy")["urn"] in alarm["dependencies"]


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_load_balancer_alarm_is_a_metrics_insights_query_of_the_edges_nlb(stack):
    alarm = _alarms(stack)["nlb-unhealthy-targets"]
    topic = _arn(stack, TOPIC, "alerts")
    inputs = dict(alarm["inputs"])
    (query,) = inputs.pop("metricQueries")
    assert inputs == {
        "name": f"platform-{stack}-warning-nlb-unhealthy-targets",
        "alarmDescription": "[warning] Load balancer: unhealthy targets for 5 minutes (Traefik pods failing the NLB's health check)",
        "evaluationPeriods": 5, "datapointsToAlarm": 5, "threshold": 0, "comparisonOperator": "GreaterThanThreshold",
        "treatMissingData": "notBreaching", "actionsEnabled": True, "alarmActions": [topic], "okActions": [topic],
    }
    # The NLB the edge's Service names (service.beta.kubernetes.io/aws-load-balancer-name = the cluster's name).
    annotations = alerting_plan(stack).named("kubernetes:core/v1:Service", f"::platform-{stack}-traefik-lb")["inputs"]["metadata"]["annotations"]
    lb = annotations["service.beta.kubernetes.io/aws-load-balancer-name"]
    match = re.fullmatch(
        r"""SELECT MAX\(UnHealthyHostCount\) FROM SCHEMA\("AWS/NetworkELB", LoadBalancer, TargetGroup\) WHERE LoadBalancer = 'net/(?P<name>[^/]+)/[0-9a-f]{16}'""",
        query.pop("expression"),
    )
    assert match and match["name"] == lb == f"platform-{stack}"
    # No GROUP BY: one series, the worst target group's count.
    assert query == {"id": "q1", "period": 60, "returnData": True, "label": "UnHealthyHostCount"}


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_the_cost_model_counts_every_alarm(stack):
    p = alerting_plan(stack)
    made = len(p.of_type(ALARM))
    assert made == alarms.alarm_count(_config(stack)) == {"staging": 12, "prod": 16}[stack]
    (line,) = [i for i in p.outputs["cost"]["items"] if i["resource"] == "alarms"]
    assert line["quantity"] == made and line["unit_price"] == 0.10


# ---------------------------------------------------------------------- the pure definitions


@pytest.mark.parametrize(
    ("instance_class", "connections"),
    [("db.t3.micro", 112), ("db.t3.small", 225), ("db.t3.medium", 450), ("db.t3.large", 901), ("db.t4g.medium", 450),
     ("db.m5.large", 901), ("db.m6g.large", 901), ("db.m6i.large", 901), ("db.r6g.large", 1802)],
)
def test_max_connections_is_rds_postgres_default_formula(instance_class, connections):
    assert alarms.max_connections(instance_class) == connections


def test_every_class_the_catalogues_price_has_a_memory_size():
    from infra import prices

    classes = {c for region in prices.regions() for c in prices.load(region).rds_postgres}
    assert classes <= set(alarms.RDS_CLASS_MEMORY_GIB)


def test_an_unknown_instance_class_is_refused_by_name():
    with pytest.raises(ValueError, match=r"no memory size for RDS instance class 'db\.x2g\.16xlarge'"):
        alarms.max_connections("db.x2g.16xlarge")


def test_the_cap_of_5000_connections(monkeypatch):
    monkeypatch.setitem(alarms.RDS_CLASS_MEMORY_GIB, "db.r6g.16xlarge", 512)
    assert alarms.max_connections("db.r6g.16xlarge") == 5000


def _db(**overrides: Any) -> DatabaseConfig:
    return DatabaseConfig(**{"instance_class": "db.t3.medium", "allocated_storage_gb": 100, **overrides})


CACHE = CacheConfig(node_type="cache.t3.small", num_nodes=2)


@pytest.mark.parametrize(("max_storage", "severity"), [(0, "critical"), (200, "warning")])
def test_free_storage_pages_only_without_storage_autoscaling(max_storage, severity):
    specs = alarms.alarm_specs(_db(max_allocated_storage_gb=max_storage), CACHE, db_instance="db", db_replicas=[], cache_clusters=["c-001", "c-002"], load_balancer="net/a/1", certificate_arn="c")
    (free,) = [s for s in specs if s.role == "db-free-storage"]
    assert (free.severity, free.threshold) == (severity, 10 * GIB)


def test_identifiers_must_match_the_config():
    with pytest.raises(ValueError, match="1 replica identifiers for database.read_replicas 0"):
        alarms.alarm_specs(_db(), CACHE, db_instance="db", db_replicas=["r"], cache_clusters=["c-001", "c-002"], load_balancer="l", certificate_arn="c")
    with pytest.raises(ValueError, match="1 member clusters for cache.num_nodes 2"):
        alarms.alarm_specs(_db(), CACHE, db_instance="db", db_replicas=[], cache_clusters=["c-001"], load_balancer="l", certificate_arn="c")


def test_member_cluster_ids_and_the_query():
    assert [alarms.member_cluster_id("platform-prod-redis-c909098", i) for i in (1, 2, 10)] == [
        "platform-prod-redis-c909098-001", "platform-prod-redis-c909098-002", "platform-prod-redis-c909098-010"]
    specs = alarms.alarm_specs(_db(), CACHE, db_instance="db", db_replicas=[], cache_clusters=["c-001", "c-002"], load_balancer="net/x/1", certificate_arn="c")
    (nlb,) = [s for s in specs if s.insights]
    assert alarms.insights_query(nlb, {"LoadBalancer": "net/x/1"}) == (
        """SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup) WHERE LoadBalancer = 'net/x/1'""")
    with pytest.raises(ValueError, match="db-cpu is a metric alarm"):
        alarms.insights_query(specs[0], {})


def test_alarm_counts():
    assert alarms.alarm_count(parse({k.removeprefix("platform:"): v for k, v in stack_config("dev").items() if k.startswith("platform:")}, stack="dev", aws={"region": "us-east-1"})) == 0
    assert {s: alarms.alarm_count(_config(s)) for s in ALERTING_STACKS} == {"staging": 12, "prod": 16}


# ---------------------------------------------------------------------- the policy pack


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_the_policy_pack_passes_the_alerting_plans(stack):
    """Mandatory rules pass; staging, which protects nothing, is advised to protect the secret."""
    from infra.review import check

    report = check.check_plan(alerting_plan(stack).data)
    assert report.mandatory == []
    ours = [(v.level, v.rule, v.urn.rsplit("::", 1)[-1]) for v in report.violations if any(w in v.urn for w in ("alert", "forwarder", "uptime"))]
    assert ours == ([] if stack == "prod" else [("advisory", "stateful-protected", "platform-staging-alert-destinations")])


@pytest.mark.parametrize(("standby_delay_seconds", "threshold"), [(30, 600), (300, 600), (900, 1200), (3600, 3900)])
def test_the_replica_lag_alarm_sits_above_what_a_healthy_replica_lags(standby_delay_seconds, threshold):
    """Five minutes of idle-source lag (RDS) or the dump's allowed replay hold, whichever is longer, plus five minutes."""
    db = DatabaseConfig(instance_class="db.m5.large", allocated_storage_gb=100, standby_delay_seconds=standby_delay_seconds)
    assert alarms.replica_lag_threshold(db) == threshold
