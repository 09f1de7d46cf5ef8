"""The alert forwarder (infra/alert_forwarder/handler.py, issue 16 item 7): CloudWatch alarm state
changes from SNS to Slack and PagerDuty Events API v2.

Specified here, against exact dicts, from SNS events shaped as Lambda receives them:
- parsing: an ALARM and an OK transition; the severity from the description's prefix (and
  critical when there is none); what is not an alarm state change (plain text, other JSON,
  INSUFFICIENT_DATA) is ignored and logged, without reading the secret;
- the messages: Slack's text, PagerDuty's trigger (dedup_key the alarm's ARN) and resolve;
- routing: each destination gets only the severities its route takes (prod: PagerDuty critical,
  Slack both; staging: Slack only, no PagerDuty key at all);
- the handler end to end with the secret and HTTP faked: what is posted where, that a failed
  destination fails the invocation naming it and not its URL, and that no secret is logged;
- the module is standard library only (boto3 imported inside read_destinations), and every
  alarm infra/alarms.py makes carries a severity the forwarder reads.
"""

from __future__ import annotations

import ast
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import alarms
from infra.alert_forwarder import handler as fwd

ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:platform-prod-critical-redis-001-evictions"
WARNING_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:platform-prod-warning-db-cpu"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:platform-prod-alerts-f12d0a8"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/not-a-real-webhook-secret"
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
DESTINATIONS = {"slack_webhook_url": WEBHOOK, "pagerduty_routing_key": ROUTING_KEY}
PROD_ROUTES = {"SLACK_SEVERITIES": "critical,warning", "PAGERDUTY_SEVERITIES": "critical"}
STAGING_ROUTES = {"SLACK_SEVERITIES": "critical,warning", "PAGERDUTY_SEVERITIES": ""}


def alarm_message(name: str, arn: str, new: str, old: str, description: str | None, reason: str) -> dict[str, Any]:
    """A CloudWatch alarm's SNS message body (CloudWatch user guide, "Using Amazon SNS topics":
    the JSON it publishes), as the alarm publishes it."""
    message: dict[str, Any] = {
        "AlarmName": name,
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-12-01T09:00:00.000+0000",
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": "2026-12-02T10:15:00.123+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": arn,
        "OldStateValue": old,
        "OKActions": [TOPIC_ARN],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": {"MetricName": "Evictions", "Namespace": "AWS/ElastiCache", "Statistic": "SUM", "Period": 300, "EvaluationPeriods": 1,
                    "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0, "TreatMissingData": "notBreaching"},
    }
    if description is not None:
        message["AlarmDescription"] = description
    return message


def sns_event(*bodies: Any, subject: str = "ALARM") -> dict[str, Any]:
    """What Lambda receives from an SNS subscription: one record per message."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC_ARN}:5bb8b799-1821-8fd6-ae5d-5dfe2bfe1bf2",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb5{i}",
                    "TopicArn": TOPIC_ARN,
                    "Subject": subject,
                    "Message": body if isinstance(body, str) else json.dumps(body),
                    "Timestamp": "2026-12-02T10:15:00.456Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
            for i, body in enumerate(bodies)
        ]
    }


EVICTIONS_ALARM = alarm_message(
    "platform-prod-critical-redis-001-evictions", ALARM_ARN, "ALARM", "OK",
    "[critical] Redis node 001: keys evicted (memory full: sessions or queued jobs lost)",
    "Threshold Crossed: 1 datapoint [42.0 (02/12/26 10:10:00)] was greater than the threshold (0.0).",
)
EVICTIONS_OK = alarm_message(
    "platform-prod-critical-redis-001-evictions", ALARM_ARN, "OK", "ALARM",
    "[critical] Redis node 001: keys evicted (memory full: sessions or queued jobs lost)",
    "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].",
)
# A new alarm's first evaluation: OK from INSUFFICIENT_DATA runs the OK actions too.
EVICTIONS_FIRST_OK = alarm_message(
    "platform-prod-critical-redis-001-evictions", ALARM_ARN, "OK", "INSUFFICIENT_DATA",
    "[critical] Redis node 001: keys evicted (memory full: sessions or queued jobs lost)",
    "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (0.0).",
)
CPU_WARNING = alarm_message(
    "platform-prod-warning-db-cpu", WARNING_ARN, "ALARM", "OK",
    "[warning] PostgreSQL primary: CPU above 80% for 15 minutes (db.m5.large)",
    "Threshold Crossed: 3 datapoints [91.2, 88.0, 85.5] were greater than the threshold (80.0).",
)


@pytest.fixture
def routes(monkeypatch):
    def use(values: dict[str, str]) -> None:
        for key, value in {**values, "ENVIRONMENT": "prod", "DESTINATIONS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:d"}.items():
            monkeypatch.setenv(key, value)

    return use


@pytest.fixture
def posted(monkeypatch):
    """Fakes Secrets Manager and HTTP: returns the list of deliveries the handler posts."""
    sent: list[fwd.Delivery] = []
    reads: list[str] = []
    monkeypatch.setattr(fwd, "read_destinations", lambda arn: reads.append(arn) or dict(DESTINATIONS))
    monkeypatch.setattr(fwd, "post", lambda delivery: sent.append(delivery) or 202)
    sent_reads = (sent, reads)
    return sent_reads


# ---------------------------------------------------------------------- parsing


def test_an_alarm_transition_parses_to_its_fields():
    (record,) = sns_event(EVICTIONS_ALARM)["Records"]
    assert fwd.parse_record(record) == fwd.Alarm(
        name="platform-prod-critical-redis-001-evictions",
        arn=ALARM_ARN,
        state="ALARM",
        previous_state="OK",
        reason="Threshold Crossed: 1 datapoint [42.0 (02/12/26 10:10:00)] was greater than the threshold (0.0).",
        description="[critical] Redis node 001: keys evicted (memory full: sessions or queued jobs lost)",
        region="us-east-1",
        account="123456789012",
        severity="critical",
    )


@pytest.mark.parametrize(
    ("description", "severity"),
    [("[critical] x", "critical"), ("[warning] x", "warning"), ("no prefix", "critical"), (None, "critical"), ("[info] x", "critical"), ("x [warning]", "critical")],
)
def test_severity_is_the_description_prefix_and_critical_without_one(description, severity):
    assert fwd.severity_of(description) == severity


@pytest.mark.parametrize(
    "body",
    [
        "Hello from the SNS console",
        json.dumps({"default": "a message published by hand"}),
        json.dumps(["not", "an", "object"]),
        alarm_message("platform-prod-warning-db-cpu", WARNING_ARN, "INSUFFICIENT_DATA", "OK", "[warning] x", "Insufficient Data: 1 datapoint was unknown."),
        {**EVICTIONS_ALARM, "AlarmArn": None},
    ],
    ids=["text", "other-json", "json-list", "insufficient-data", "no-arn"],
)
def test_what_is_no_alarm_change_to_alarm_or_ok_is_not_parsed(body):
    (record,) = sns_event(body)["Records"]
    assert fwd.parse_record(record) is None


def test_severities_of_a_route():
    assert fwd.parse_severities("critical,warning") == {"critical", "warning"}
    assert fwd.parse_severities(" critical ") == {"critical"}
    assert fwd.parse_severities("") == fwd.parse_severities(None) == frozenset()
    assert fwd.parse_severities("critical,info") == {"critical"}


# ---------------------------------------------------------------------- messages


def test_slack_message_of_an_alarm_and_of_its_recovery():
    alarm = fwd.parse_record(sns_event(EVICTIONS_ALARM)["Records"][0])
    ok = fwd.parse_record(sns_event(EVICTIONS_OK)["Records"][0])
    assert fwd.slack_message(alarm, "prod") == {
        "text": ":red_circle: ALARM platform-prod-critical-redis-001-evictions (critical, prod, us-east-1)\n"
        "Threshold Crossed: 1 datapoint [42.0 (02/12/26 10:10:00)] was greater than the threshold (0.0)."
    }
    assert fwd.slack_message(ok, "prod") == {
        "text": ":large_green_circle: OK platform-prod-critical-redis-001-evictions (critical, prod, us-east-1)\n"
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
    }


def test_pagerduty_triggers_on_alarm_and_resolves_on_ok_by_the_alarm_arn():
    alarm = fwd.parse_record(sns_event(EVICTIONS_ALARM)["Records"][0])
    ok = fwd.parse_record(sns_event(EVICTIONS_OK)["Records"][0])
    assert fwd.pagerduty_event(alarm, ROUTING_KEY, "prod") == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": ALARM_ARN,
        "payload": {
            "summary": "prod: platform-prod-critical-redis-001-evictions: Threshold Crossed: 1 datapoint [42.0 (02/12/26 10:10:00)] was greater than the threshold (0.0).",
            "source": "prod (us-east-1)",
            "severity": "critical",
            "custom_details": {
                "alarm": "platform-prod-critical-redis-001-evictions",
                "description": "[critical] Redis node 001: keys evicted (memory full: sessions or queued jobs lost)",
                "account": "123456789012",
                "region": "us-east-1",
            },
        },
    }
    assert fwd.pagerduty_event(ok, ROUTING_KEY, "prod") == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": ALARM_ARN}


def test_pagerduty_summary_is_cut_to_its_limit():
    alarm = fwd.parse_record(sns_event({**EVICTIONS_ALARM, "NewStateReason": "x" * 5000})["Records"][0])
    assert len(fwd.pagerduty_event(alarm, ROUTING_KEY, "prod")["payload"]["summary"]) == 1024


# ---------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("body", "slack", "pagerduty", "expected"),
    [
        # prod: a critical alarm pages and goes to Slack; its recovery resolves the page.
        (EVICTIONS_ALARM, "critical,warning", "critical", [("slack", WEBHOOK), ("pagerduty", fwd.PAGERDUTY_URL)]),
        (EVICTIONS_OK, "critical,warning", "critical", [("slack", WEBHOOK), ("pagerduty", fwd.PAGERDUTY_URL)]),
        # a first evaluation (or the end of a data gap) is no recovery for Slack; PagerDuty's resolve is harmless.
        (EVICTIONS_FIRST_OK, "critical,warning", "critical", [("pagerduty", fwd.PAGERDUTY_URL)]),
        # prod: a warning is a severity PagerDuty's route does not take: Slack only.
        (CPU_WARNING, "critical,warning", "critical", [("slack", WEBHOOK)]),
        # staging: Slack only, and no PagerDuty key in the secret.
        (EVICTIONS_ALARM, "critical,warning", "", [("slack", WEBHOOK)]),
        # a Slack route that takes critical only.
        (CPU_WARNING, "critical", "", []),
    ],
    ids=["prod-critical", "prod-critical-ok", "prod-first-ok", "prod-warning", "staging-critical", "slack-critical-only-warning"],
)
def test_each_route_gets_only_its_severities(body, slack, pagerduty, expected):
    alarm = fwd.parse_record(sns_event(body)["Records"][0])
    destinations = DESTINATIONS if pagerduty else {"slack_webhook_url": WEBHOOK}
    planned = fwd.deliveries(alarm, environment="prod", destinations=destinations,
                             slack_severities=fwd.parse_severities(slack), pagerduty_severities=fwd.parse_severities(pagerduty))
    assert [(d.destination, d.url) for d in planned] == expected


def test_a_route_whose_secret_key_is_missing_is_named_not_shown():
    alarm = fwd.parse_record(sns_event(EVICTIONS_ALARM)["Records"][0])
    with pytest.raises(KeyError) as err:
        fwd.deliveries(alarm, environment="prod", destinations={"slack_webhook_url": WEBHOOK}, slack_severities={"critical"}, pagerduty_severities={"critical"})
    assert err.value.args[0] == "the destinations secret has no pagerduty_routing_key"


# ---------------------------------------------------------------------- the handler


def test_handler_posts_exact_bodies_to_each_destination(routes, posted, caplog):
    routes(PROD_ROUTES)
    sent, reads = posted
    with caplog.at_level(logging.INFO, logger="alert-forwarder"):
        result = fwd.handler(sns_event(EVICTIONS_ALARM, CPU_WARNING))
    assert result == {"alarms": 2, "delivered": 3, "ignored": 0}
    assert reads == ["arn:aws:secretsmanager:us-east-1:123456789012:secret:d"]
    assert [(d.destination, d.url, d.body) for d in sent] == [
        ("slack", WEBHOOK, fwd.slack_message(fwd.parse_record(sns_event(EVICTIONS_ALARM)["Records"][0]), "prod")),
        ("pagerduty", fwd.PAGERDUTY_URL, fwd.pagerduty_event(fwd.parse_record(sns_event(EVICTIONS_ALARM)["Records"][0]), ROUTING_KEY, "prod")),
        ("slack", WEBHOOK, {"text": ":red_circle: ALARM platform-prod-warning-db-cpu (warning, prod, eu-west-1)\n"
                                    "Threshold Crossed: 3 datapoints [91.2, 88.0, 85.5] were greater than the threshold (80.0)."}),
    ]
    assert WEBHOOK not in caplog.text and ROUTING_KEY not in caplog.text
    assert "platform-prod-critical-redis-001-evictions ALARM (critical) -> pagerduty: HTTP 202" in caplog.text


def test_handler_resolves_on_ok(routes, posted):
    routes(PROD_ROUTES)
    sent, _ = posted
    fwd.handler(sns_event(EVICTIONS_OK))
    assert [d.body.get("event_action") for d in sent] == [None, "resolve"]


def test_a_staging_warning_reaches_slack_only(routes, posted, caplog):
    routes(STAGING_ROUTES)
    sent, _ = posted
    assert fwd.handler(sns_event(CPU_WARNING)) == {"alarms": 1, "delivered": 1, "ignored": 0}
    assert [d.destination for d in sent] == ["slack"]


def test_a_severity_no_route_takes_is_logged_and_sent_nowhere(routes, posted, caplog, monkeypatch):
    routes({"SLACK_SEVERITIES": "critical", "PAGERDUTY_SEVERITIES": "critical"})
    sent, _ = posted
    with caplog.at_level(logging.INFO, logger="alert-forwarder"):
        assert fwd.handler(sns_event(CPU_WARNING)) == {"alarms": 1, "delivered": 0, "ignored": 0}
    assert sent == []
    assert "platform-prod-warning-db-cpu ALARM (warning): no route takes this severity" in caplog.text


def test_messages_that_are_no_alarm_are_ignored_logged_and_read_no_secret(routes, posted, caplog):
    routes(PROD_ROUTES)
    sent, reads = posted
    with caplog.at_level(logging.INFO, logger="alert-forwarder"):
        assert fwd.handler(sns_event("Hello from the SNS console", {"default": "x"})) == {"alarms": 0, "delivered": 0, "ignored": 2}
    assert sent == [] and reads == []
    assert "ignored SNS message 95df01b4-ee98-5cb9-9903-4c221d41eb50: not a CloudWatch alarm change to ALARM or OK" in caplog.text
    assert "Hello from the SNS console" not in caplog.text


def test_a_failed_destination_fails_the_invocation_by_name_after_the_others(routes, monkeypatch, caplog):
    routes(PROD_ROUTES)
    monkeypatch.setattr(fwd, "read_destinations", lambda arn: dict(DESTINATIONS))
    sent: list[str] = []

    def post(delivery):
        if delivery.destination == "slack":
            raise fwd.DeliveryError("slack: HTTP 404")
        sent.append(delivery.destination)
        return 202

    monkeypatch.setattr(fwd, "post", post)
    with caplog.at_level(logging.INFO, logger="alert-forwarder"), pytest.raises(RuntimeError) as err:
        fwd.handler(sns_event(EVICTIONS_ALARM))
    assert str(err.value) == "platform-prod-critical-redis-001-evictions: slack: HTTP 404"
    assert sent == ["pagerduty"]  # the page still went out
    assert WEBHOOK not in str(err.value) + caplog.text


def test_an_http_error_names_the_destination_and_status_never_the_url(monkeypatch):
    import urllib.error

    def refuse(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)

    monkeypatch.setattr(fwd.urllib.request, "urlopen", refuse)
    with pytest.raises(fwd.DeliveryError) as err:
        fwd.post(fwd.Delivery("slack", WEBHOOK, {"text": "x"}))
    assert str(err.value) == "slack: HTTP 403"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_post_sends_json(monkeypatch):
    seen = {}

    class Response:
        status = 202

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(request, timeout):
        seen.update(url=request.full_url, method=request.get_method(), body=json.loads(request.data), type=request.get_header("Content-type"), timeout=timeout)
        return Response()

    monkeypatch.setattr(fwd.urllib.request, "urlopen", urlopen)
    assert fwd.post(fwd.Delivery("pagerduty", fwd.PAGERDUTY_URL, {"a": 1})) == 202
    assert seen == {"url": "https://events.pagerduty.com/v2/enqueue", "method": "POST", "body": {"a": 1}, "type": "application/json", "timeout": 10}


def test_read_destinations_asks_secrets_manager(monkeypatch):
    calls = []

    class Client:
        def get_secret_value(self, SecretId):  # noqa: N803 (boto3's spelling)
            calls.append(SecretId)
            return {"SecretString": json.dumps(DESTINATIONS)}

    fake = type(sys)("boto3")
    fake.client = lambda service: calls.append(service) or Client()
    monkeypatch.setitem(sys.modules, "boto3", fake)
    assert fwd.read_destinations("arn:s") == DESTINATIONS
    assert calls == ["secretsmanager", "arn:s"]


# ---------------------------------------------------------------------- the module and the alarms


def test_the_handler_imports_the_standard_library_only():
    tree = ast.parse(Path(fwd.__file__).read_text(encoding="utf-8"))
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert top - {"__future__"} <= set(sys.stdlib_module_names)
    # boto3 only inside read_destinations, where the Lambda runtime provides it.
    nested = [n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name == "boto3" for a in n.names)]
    assert len(nested) == 1 and nested[0] not in tree.body


def test_every_alarm_carries_a_severity_the_forwarder_reads():
    from tests.conftest import stack_config
    from infra.config import parse

    raw = {k.removeprefix("platform:"): v for k, v in stack_config("prod").items() if k.startswith("platform:")}
    cfg = parse(raw, stack="prod", aws={"region": "us-east-1"})
    specs = alarms.alarm_specs(cfg.database, cfg.cache, db_instance="db", db_replicas=["r1"], cache_clusters=["c-001", "c-002"], load_balancer="net/x/1", certificate_arn="arn")
    specs.append(alarms.uptime_alarm("https://api.example.com/health", "hc"))
    assert {s.role: fwd.severity_of(s.description) for s in specs} == {s.role: s.severity for s in specs}
    assert {fwd.severity_of(s.description) for s in specs} == set(fwd.SEVERITIES)
