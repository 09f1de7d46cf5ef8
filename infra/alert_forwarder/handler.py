"""The alert forwarder: CloudWatch alarm state changes, from SNS, to Slack and PagerDuty.

Runs on AWS Lambda (python3.13), standard library only; boto3, which the Lambda runtime
provides, is imported inside `read_destinations` alone, so the tests need none. Deployed by
infra/components/alerting.py, which zips this file alone and sets:
- DESTINATIONS_SECRET_ARN: a Secrets Manager secret holding
  {"slack_webhook_url": ..., "pagerduty_routing_key": ...}, each key present when its route is;
- SLACK_SEVERITIES, PAGERDUTY_SEVERITIES: the severities each route takes, comma-separated
  (empty or unset: the route is off);
- ENVIRONMENT: the stack's environment, shown in every message.

An alarm's severity is the prefix of its AlarmDescription, `[critical] ...` or `[warning] ...`
(infra/alarms.py). An alarm without one is treated as critical: an alert of unknown weight is
delivered, never dropped. ALARM triggers, OK resolves; other states (INSUFFICIENT_DATA) and
messages that are not alarm state changes are ignored and logged.

What is logged: alarm names, states, destinations and HTTP statuses; never a webhook URL, a
routing key, or a message body sent to either.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = ("critical", "warning")
DEFAULT_SEVERITY = "critical"
STATES = ("ALARM", "OK")
TIMEOUT_SECONDS = 10
# PagerDuty Events API v2: payload.summary is at most 1024 characters.
SUMMARY_MAX = 1024
_SEVERITY = re.compile(r"^\[(critical|warning)\]")

log = logging.getLogger("alert-forwarder")
log.setLevel(logging.INFO)


class DeliveryError(Exception):
    """A destination refused or could not be reached; the message names it, never its URL."""


@dataclass(frozen=True)
class Alarm:
    name: str
    arn: str
    state: str
    previous_state: str
    reason: str
    description: str
    region: str
    account: str
    severity: str


@dataclass(frozen=True)
class Delivery:
    destination: str  # "slack" | "pagerduty"
    url: str
    body: dict[str, Any]


def severity_of(description: str | None) -> str:
    match = _SEVERITY.match(description or "")
    return match.group(1) if match else DEFAULT_SEVERITY


def parse_severities(value: str | None) -> frozenset[str]:
    return frozenset(s.strip() for s in (value or "").split(",") if s.strip() in SEVERITIES)


def parse_record(record: Mapping[str, Any]) -> Alarm | None:
    """The alarm state change an SNS record carries, or None when it carries none."""
    sns = record.get("Sns") if isinstance(record, Mapping) else None
    if not isinstance(sns, Mapping):
        return None
    try:
        message = json.loads(sns.get("Message") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    name, arn, state = message.get("AlarmName"), message.get("AlarmArn"), message.get("NewStateValue")
    if not isinstance(name, str) or not isinstance(arn, str) or state not in STATES:
        return None
    parts = arn.split(":")
    # arn:aws:cloudwatch:<region>:<account>:alarm:<name>; the message's own Region is the long
    # name ("US East (N. Virginia)").
    region = parts[3] if len(parts) > 4 else str(message.get("Region") or "")
    description = message.get("AlarmDescription") or ""
    return Alarm(
        name=name,
        arn=arn,
        state=state,
        previous_state=str(message.get("OldStateValue") or ""),
        reason=str(message.get("NewStateReason") or ""),
        description=str(description),
        region=region,
        account=str(message.get("AWSAccountId") or (parts[4] if len(parts) > 4 else "")),
        severity=severity_of(str(description)),
    )


def slack_message(alarm: Alarm, environment: str) -> dict[str, Any]:
    icon = ":red_circle:" if alarm.state == "ALARM" else ":large_green_circle:"
    return {"text": f"{icon} {alarm.state} {alarm.name} ({alarm.severity}, {environment}, {alarm.region})\n{alarm.reason}"}


def pagerduty_event(alarm: Alarm, routing_key: str, environment: str) -> dict[str, Any]:
    """Events API v2: one incident per alarm (dedup_key its ARN), triggered on ALARM,
    resolved on OK (a resolve needs no payload)."""
    if alarm.state == "OK":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alarm.arn}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alarm.arn,
        "payload": {
            "summary": f"{environment}: {alarm.name}: {alarm.reason}"[:SUMMARY_MAX],
            "source": f"{environment} ({alarm.region})",
            "severity": alarm.severity,
            "custom_details": {"alarm": alarm.name, "description": alarm.description, "account": alarm.account, "region": alarm.region},
        },
    }


def deliveries(
    alarm: Alarm,
    *,
    environment: str,
    destinations: Mapping[str, str],
    slack_severities: Iterable[str],
    pagerduty_severities: Iterable[str],
) -> list[Delivery]:
    """What to send for one alarm: each route that takes its severity. Raises KeyError naming
    the secret's key a route needs and the secret lacks (never its value)."""
    out = []
    # An alarm's first evaluation, and the end of a data gap, move it to OK from
    # INSUFFICIENT_DATA and run its OK actions: a recovery only when it was in ALARM. PagerDuty
    # still gets the resolve (idempotent; ALARM -> INSUFFICIENT_DATA -> OK must close the page).
    recovered = alarm.state != "OK" or alarm.previous_state == "ALARM"
    if alarm.severity in set(slack_severities) and recovered:
        out.append(Delivery("slack", _required(destinations, "slack_webhook_url"), slack_message(alarm, environment)))
    if alarm.severity in set(pagerduty_severities):
        out.append(Delivery("pagerduty", PAGERDUTY_URL, pagerduty_event(alarm, _required(destinations, "pagerduty_routing_key"), environment)))
    return out


def _required(destinations: Mapping[str, str], key: str) -> str:
    value = destinations.get(key)
    if not isinstance(value, str) or not value:
        raise KeyError(f"the destinations secret has no {key}")
    return value


def read_destinations(secret_arn: str) -> dict[str, str]:
    import boto3  # in the Lambda runtime; imported here so the module loads without it

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    return json.loads(value)


def post(delivery: Delivery) -> int:
    request = urllib.request.Request(
        delivery.url, data=json.dumps(delivery.body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (https URLs only: Slack's and PagerDuty's)
            return response.status
    except urllib.error.HTTPError as err:
        # `from None`: the chained error would carry the request, and the request its URL.
        raise DeliveryError(f"{delivery.destination}: HTTP {err.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DeliveryError(f"{delivery.destination}: {type(reason).__name__}") from None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, int]:
    environment = os.environ.get("ENVIRONMENT", "")
    slack, pagerduty = parse_severities(os.environ.get("SLACK_SEVERITIES")), parse_severities(os.environ.get("PAGERDUTY_SEVERITIES"))
    alarms, ignored = [], 0
    for record in event.get("Records") or []:
        alarm = parse_record(record)
        if alarm is None:
            ignored += 1
            sns = record.get("Sns") if isinstance(record, Mapping) else None
            message_id = sns.get("MessageId") if isinstance(sns, Mapping) else None
            log.info("ignored SNS message %s: not a CloudWatch alarm change to ALARM or OK", message_id)
            continue
        alarms.append(alarm)
    if not alarms:
        return {"alarms": 0, "delivered": 0, "ignored": ignored}

    destinations = read_destinations(os.environ["DESTINATIONS_SECRET_ARN"])
    delivered, failures = 0, []
    for alarm in alarms:
        try:
            planned = deliveries(alarm, environment=environment, destinations=destinations, slack_severities=slack, pagerduty_severities=pagerduty)
        except KeyError as err:
            failures.append(f"{alarm.name}: {err.args[0]}")
            continue
        if not planned:
            log.info("%s %s (%s): no route takes this severity", alarm.name, alarm.state, alarm.severity)
        for delivery in planned:
            try:
                status = post(delivery)
            except DeliveryError as err:
                failures.append(f"{alarm.name}: {err}")
                continue
            delivered += 1
            log.info("%s %s (%s) -> %s: HTTP %s", alarm.name, alarm.state, alarm.severity, delivery.destination, status)
    if failures:
        # Lambda retries an asynchronous invocation twice: a destination that was down gets the
        # alert again (PagerDuty deduplicates by dedup_key; Slack may show it twice).
        raise RuntimeError("; ".join(failures))
    return {"alarms": len(alarms), "delivered": delivered, "ignored": ignored}
