"""Alerting on AWS (issue 16, items 6-7): CloudWatch alarms, one SNS topic, the alert forwarder.

Prometheus's Alertmanager (infra/components/monitoring.py) alerts on what runs in the cluster;
what AWS runs for it (RDS, ElastiCache, the NLB, the certificate) is watched by CloudWatch,
whose alarms reach the same routes: Slack for every severity the route takes, PagerDuty for
critical ones (observability.alerts).

Creates:
- `{name}-alerts`: the SNS topic every alarm notifies on ALARM and on OK, KMS-encrypted with the
  stack's key (whose policy lets this account's CloudWatch alarms use it: infra/components/keys.py),
  and `{name}-alerts-policy`: only CloudWatch alarms of this account and region may publish
  (aws:SourceAccount, aws:SourceArn `arn:aws:cloudwatch:<region>:<account>:alarm:*`), never
  without TLS;
- `{name}-alert-destinations` (+ `-value`): a Secrets Manager secret (the stack's key) holding
  the Slack webhook URL and the PagerDuty routing key of the configured routes, protected like
  the stack's other secrets;
- `{name}-forwarder-logs`: the forwarder's log group `/platform/<environment>/alert-forwarder`,
  KMS-encrypted, kept `log_retention_days`;
- `{name}-forwarder-role` (+ `{name}-forwarder-policy`): the forwarder's execution role: write
  its own log group, read that one secret (and decrypt it through Secrets Manager only);
- `{name}-forwarder`: the Lambda function (python3.13, infra/alert_forwarder/handler.py zipped
  alone), and `{name}-forwarder-permission` + `{name}-forwarder-subscription`: the topic invokes it;
- `{name}-alarm-<role>`: the alarms of infra/alarms.py `alarm_specs`, named
  `<name>-<severity>-<role>`, each notifying the topic on ALARM and OK. The load balancer's is a
  Metrics Insights query over its ARN suffix, looked up by its name (aws.lb.get_load_balancer)
  once the controller has made it.

Outputs: topic_arn, forwarder_arn, forwarder_name, alarm_names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import alarms
from infra.components._shared import alarm_topic, metric_alarm, subscribe_function
from infra.config import PROJECT, AlertsConfig, CacheConfig, DatabaseConfig, LogRetention, ProtectionConfig

FORWARDER_DIR = Path(__file__).resolve().parents[1] / "alert_forwarder"
FORWARDER_RUNTIME = "python3.13"
FORWARDER_HANDLER = "handler.handler"
# Two HTTPS posts of at most 10 s each (handler.TIMEOUT_SECONDS) and one Secrets Manager read.
FORWARDER_TIMEOUT_SECONDS = 30
# What the cost model prices (infra/cost/model.py FORWARDER_GB_SECONDS_PER_INVOCATION).
FORWARDER_MEMORY_MB = 128


@dataclass(frozen=True)
class AlertingArgs:
    config: AlertsConfig
    # The alarms' subjects are sized by these (connections by instance class, storage by
    # allocation, one set per replica and per cache node).
    database: DatabaseConfig
    cache: CacheConfig
    # platform:environment: shown in every message, names the log group.
    environment: str
    region: str
    account_id: str
    # The stack's key: the topic, the secret and the log group. Its policy must let CloudWatch
    # alarms use it (_shared.cloudwatch_alarms_key_statement, in every stack's key).
    kms_key_arn: pulumi.Input[str]
    # What the alarms watch: Database.instance_identifier / replica_identifiers,
    # Cache.replication_group_id, Edge.load_balancer_name / certificate_arn.
    db_instance_identifier: pulumi.Input[str]
    db_replica_identifiers: Sequence[pulumi.Input[str]]
    cache_replication_group_id: pulumi.Input[str]
    load_balancer_name: pulumi.Input[str]
    certificate_arn: pulumi.Input[str]
    # The routes' secrets (cfg.secrets), required with their route.
    slack_webhook_url: pulumi.Input[str] | None = None
    pagerduty_routing_key: pulumi.Input[str] | None = None
    # protect / retain of the destinations secret.
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)
    log_retention_days: LogRetention = 365


class Alerting(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    forwarder_arn: pulumi.Output[str]
    forwarder_name: pulumi.Output[str]
    alarm_names: list[str]

    def __init__(self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:alerting:Alerting", name, None, opts)
        # validate
        cfg = args.config
        if not cfg.enabled:
            raise ValueError("Alerting is built only when observability.alerts.enabled")
        if cfg.slack is not None and args.slack_webhook_url is None:
            raise ValueError("observability.alerts.slack needs platform:slack_webhook_url")
        if cfg.pagerduty is not None and args.pagerduty_routing_key is None:
            raise ValueError("observability.alerts.pagerduty needs platform:pagerduty_routing_key")
        if len(args.db_replica_identifiers) != args.database.read_replicas:
            raise ValueError(f"{len(args.db_replica_identifiers)} replica identifiers for database.read_replicas {args.database.read_replicas}")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protection.protect, retain_on_delete=args.protection.retain_on_delete)
        group_id = pulumi.Output.from_input(args.cache_replication_group_id)
        load_balancer = aws.lb.get_load_balancer_output(name=args.load_balancer_name, opts=pulumi.InvokeOutputOptions(parent=self))
        specs = alarms.alarm_specs(
            args.database,
            args.cache,
            db_instance=args.db_instance_identifier,
            db_replicas=list(args.db_replica_identifiers),
            cache_clusters=[group_id.apply(lambda g, i=i: alarms.member_cluster_id(g, i)) for i in range(1, args.cache.num_nodes + 1)],
            load_balancer=load_balancer.arn_suffix,
            certificate_arn=args.certificate_arn,
        )
        destinations = {
            key: value
            for key, value in (("slack_webhook_url", args.slack_webhook_url), ("pagerduty_routing_key", args.pagerduty_routing_key))
            if value is not None
        }
        routes = {
            "SLACK_SEVERITIES": ",".join(cfg.slack.severities) if cfg.slack else "",
            "PAGERDUTY_SEVERITIES": ",".join(cfg.pagerduty.severities) if cfg.pagerduty else "",
        }

        # children: the topic
        alerts = alarm_topic(f"{name}-alerts", kms_key_arn=args.kms_key_arn, region=args.region, account_id=args.account_id, opts=child)

        # children: the destinations
        secret = aws.secretsmanager.Secret(
            f"{name}-alert-destinations",
            description=f"{name}: where the alert forwarder sends CloudWatch alarms ({', '.join(cfg.destinations)})",
            kms_key_id=args.kms_key_arn,
            # Secrets Manager's maximum when the stack protects its data, its minimum otherwise.
            recovery_window_in_days=30 if args.protection.protect else 7,
            opts=stateful,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-alert-destinations-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(destinations)),
            opts=child,
        )

        # children: the forwarder
        logs = aws.cloudwatch.LogGroup(
            f"{name}-forwarder-logs",
            name=f"/{PROJECT}/{args.environment}/alert-forwarder",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        # No confused-deputy condition: Lambda assumes an execution role only for a function it
        # was passed to (iam:PassRole), and documents no aws:SourceAccount on that call.
        role = aws.iam.Role(
            f"{name}-forwarder-role",
            description=f"{name}: the alert forwarder Lambda",
            assume_role_policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            ),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-forwarder-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [logs.arn, pulumi.Output.concat(logs.arn, ":*")]},
                        {"Sid": "ReadDestinations", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret.arn},
                        # The secret is encrypted with the stack's key: Secrets Manager decrypts it
                        # with the caller's permission, and only through Secrets Manager here.
                        {
                            "Sid": "DecryptDestinations",
                            "Effect": "Allow",
                            "Action": "kms:Decrypt",
                            "Resource": args.kms_key_arn,
                            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"}},
                        },
                    ],
                }
            ),
            opts=child,
        )
        forwarder = aws.lambda_.Function(
            f"{name}-forwarder",
            description=f"{name}: CloudWatch alarms from SNS to {' and '.join(cfg.destinations)}",
            runtime=FORWARDER_RUNTIME,
            handler=FORWARDER_HANDLER,
            # The handler alone: standard library only, boto3 is the runtime's.
            code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(FORWARDER_DIR / "handler.py"))}),
            role=role.arn,
            timeout=FORWARDER_TIMEOUT_SECONDS,
            memory_size=FORWARDER_MEMORY_MB,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"DESTINATIONS_SECRET_ARN": secret.arn, "ENVIRONMENT": args.environment, **routes}
            ),
            # Its own log group (not /aws/lambda/<function>, which Lambda would create unencrypted
            # and kept forever), in JSON with levels.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=logs.name, application_log_level="INFO", system_log_level="WARN"),
            # Its first invocation must be able to log and read the destinations.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, logs]),
        )
        subscribe_function(f"{name}-forwarder", topic_arn=alerts.topic.arn, function_arn=forwarder.arn, topic_opts=child, function_opts=child)

        # children: the alarms (after the topic policy, so a first ALARM can publish)
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[alerts.policy])
        for spec in specs:
            metric_alarm(name, f"{name}-alarm-{spec.role}", spec, alerts.topic.arn, after_policy)

        # outputs
        self.topic_arn = alerts.topic.arn
        self.forwarder_arn = forwarder.arn
        self.forwarder_name = forwarder.name
        self.alarm_names = [spec.name(name) for spec in specs]
        self.register_outputs(
            {"topic_arn": self.topic_arn, "forwarder_arn": self.forwarder_arn, "forwarder_name": self.forwarder_name, "alarm_names": self.alarm_names}
        )
