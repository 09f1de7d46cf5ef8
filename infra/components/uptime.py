"""The uptime check (issue 16, item 7): Route 53 requests the API's health URL from around the
world, and its CloudWatch alarm pages when the API is down for everyone.

Route 53 publishes health-check metrics to CloudWatch in US East (N. Virginia) only (Route 53
developer guide, "Monitoring health checks using CloudWatch": choose that region to see them),
so the alarm, and the topic it notifies, are in us-east-1 whatever the stack's region. In
us-east-1 the stack's own alert topic serves; elsewhere this component makes one there,
through the `aws-us-east-1` provider (infra/components/providers.py), which the same forwarder
Lambda subscribes to across regions.

Creates:
- `{name}-uptime-check`: an HTTPS health check of `https://<first API record><uptime.path>`
  on 443 with SNI, every `uptime.request_interval_seconds`, unhealthy after
  `uptime.failure_threshold` failures, from Route 53's default checker regions. Route 53 is
  global: the health check is made through the stack's provider;
- `{name}-uptime-alarm`: `<name>-critical-uptime`, HealthCheckStatus below 1 (infra/alarms.py
  `uptime_alarm`), in us-east-1, notifying on ALARM and OK;
- only when the stack is not in us-east-1, all in us-east-1: `{name}-uptime-key` (a KMS key
  the topic is encrypted with, rotating yearly, whose policy lets this account's IAM policies
  and CloudWatch alarms use it) with `{name}-uptime-key-alias` (`alias/<name>-uptime`), the
  topic `{name}-uptime-topic` (+ `-policy`), and `{name}-uptime-subscription` with
  `{name}-uptime-permission` (the latter in the stack's region, beside the function).

Outputs: health_check_id, alarm_name, topic_arn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import alarms
from infra.components._shared import alarm_topic, cloudwatch_alarms_key_statement, metric_alarm, subscribe_function
from infra.config import ProtectionConfig, UptimeConfig

METRICS_REGION = "us-east-1"
HTTPS_PORT = 443


@dataclass(frozen=True)
class UptimeArgs:
    config: UptimeConfig
    # What Route 53 requests: the first API record's hostname (infra.alarms.uptime_host).
    host: str
    # The stack's region and account: the alarm's topic is the stack's own in us-east-1.
    region: str
    account_id: str
    # The stack's alert topic (Alerting.topic_arn) and forwarder (Alerting.forwarder_arn).
    topic_arn: pulumi.Input[str]
    forwarder_arn: pulumi.Input[str]
    # The `aws-us-east-1` provider, required when `region` is not us-east-1 (None there).
    us_east_1: aws.Provider | None = None
    # protect / retain of the us-east-1 key.
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)


class Uptime(pulumi.ComponentResource):
    health_check_id: pulumi.Output[str]
    alarm_name: str
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: UptimeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:uptime:Uptime", name, None, opts)
        # validate
        cfg = args.config
        if not cfg.enabled:
            raise ValueError("Uptime is built only when observability.uptime.enabled")
        elsewhere = args.region != METRICS_REGION
        if elsewhere and args.us_east_1 is None:
            raise ValueError(f"a stack in {args.region} needs the {METRICS_REGION} provider (aws_provider(cfg, region={METRICS_REGION!r})): Route 53's metrics are there only")
        if not elsewhere and args.us_east_1 is not None:
            raise ValueError(f"a stack in {METRICS_REGION} alarms through its own provider; pass no us_east_1 provider")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        # In us-east-1 whatever the stack's region: the alarm, and there its topic and key.
        in_us_east_1 = pulumi.ResourceOptions(parent=self, provider=args.us_east_1) if elsewhere else child
        url = f"https://{args.host}{cfg.path}"

        # children: the health check (Route 53 is global)
        check = aws.route53.HealthCheck(
            f"{name}-uptime-check",
            type="HTTPS",
            fqdn=args.host,
            port=HTTPS_PORT,
            resource_path=cfg.path,
            request_interval=cfg.request_interval_seconds,
            failure_threshold=cfg.failure_threshold,
            # The NLB serves the API's certificate; SNI names the host it is for.
            enable_sni=True,
            # A health check has no name of its own: the console shows this tag.
            tags={"Name": f"{name}-api"},
            opts=child,
        )

        # children: the topic in us-east-1, where the stack is elsewhere
        topic_arn: pulumi.Input[str] = args.topic_arn
        after: list[pulumi.Resource] = []
        if elsewhere:
            key = aws.kms.Key(
                f"{name}-uptime-key",
                description=f"{name}: the uptime alarm's SNS topic in {METRICS_REGION}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountIamPoliciesGovernTheKey",
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{args.account_id}:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            cloudwatch_alarms_key_statement(args.account_id),
                        ],
                    }
                ),
                opts=pulumi.ResourceOptions.merge(in_us_east_1, pulumi.ResourceOptions(protect=args.protection.protect, retain_on_delete=args.protection.retain_on_delete)),
            )
            aws.kms.Alias(f"{name}-uptime-key-alias", name=f"alias/{name}-uptime", target_key_id=key.key_id, opts=in_us_east_1)
            uptime = alarm_topic(f"{name}-uptime-topic", kms_key_arn=key.arn, region=METRICS_REGION, account_id=args.account_id, opts=in_us_east_1)
            subscribe_function(f"{name}-uptime", topic_arn=uptime.topic.arn, function_arn=args.forwarder_arn, topic_opts=in_us_east_1, function_opts=child)
            topic_arn = uptime.topic.arn
            after = [uptime.policy]

        # children: the alarm
        spec = alarms.uptime_alarm(url, check.id)
        metric_alarm(
            name, f"{name}-uptime-alarm", spec, topic_arn, pulumi.ResourceOptions.merge(in_us_east_1, pulumi.ResourceOptions(depends_on=after)), actions_enabled=cfg.paging,
        )  # fmt: skip

        # outputs
        self.health_check_id = check.id
        self.alarm_name = spec.name(name)
        self.topic_arn = pulumi.Output.from_input(topic_arn)
        self.register_outputs({"health_check_id": self.health_check_id, "alarm_name": self.alarm_name, "topic_arn": self.topic_arn})
