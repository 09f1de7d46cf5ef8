"""The environment's Redis: an ElastiCache Redis OSS replication group in the isolated subnets.

Creates:
- `{name}-redis-subnets`: the cache subnet group over the isolated subnets (not the
  default subnet group; FSBP ElastiCache.7);
- `{name}-redis-sg` with no egress and ONE ingress rule, `{name}-redis-ingress`: TCP 6379
  from the nodes' security group only (never a CIDR);
- `{name}-redis-auth-token`: a generated 64-character AUTH token (kept in state as a secret);
- `{name}-redis-auth`: a Secrets Manager secret (CMK-encrypted) and its version
  `{name}-redis-auth-value` holding {"auth_token", "host", "port", "url"} for the app;
- `{name}-redis-slow-log`: the CloudWatch log group the slow log is delivered to;
- `{name}-redis`: the replication group (cluster mode off: one primary plus replicas):
  at-rest encryption with the CMK, TLS required, AUTH, failover / Multi-AZ and snapshots
  as the config says, Pulumi protect + retain as the stack's protection says. Its final
  snapshot is `{name}-redis-final-<8 hex>`, the hex a digest of what replaces the group
  (`REPLACED_BY`), so no two deletions write the same snapshot name.

Outputs: primary_endpoint, reader_endpoint, port, auth_secret_arn, security_group_id,
url (secret), replication_group_id, member_cluster_ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components._shared import IsolatedStoreArgs, final_snapshot_identifier, isolated_store_network
from infra.config import CacheConfig

# Redis OSS 7.1 is the last Redis OSS line on ElastiCache. From 7.x the provider takes
# major.minor and auto minor upgrades apply patches within it, so state never drifts.
# In-place TLS changes (transit_encryption_mode) need >= 7.0.5.
ENGINE_VERSION = "7.1"
PARAMETER_GROUP = "default.redis7"
PORT = 6379
# ElastiCache AUTH accepts printable ASCII except a few characters (@, ", /, space);
# alphanumeric only is always valid, and 64 characters of it is ~380 bits.
AUTH_TOKEN_LENGTH = 64
# aws_elasticache_replication_group's arguments a change of which replaces the group (the
# provider's ForceNew schema, /work/shared/reference/force-new.json, its conditional ones
# included: engine, engine_version on a downgrade, transit encryption below 7.0.5, region).
# The final snapshot's name is derived from them: tests/test_lifecycle.py holds the two equal.
REPLACED_BY = (
    "at_rest_encryption_enabled", "data_tiering_enabled", "durability", "global_replication_group_id", "kms_key_id",
    "network_type", "port", "replication_group_id", "security_group_names", "snapshot_arns", "snapshot_name",
    "subnet_group_name", "engine", "engine_version", "node_group_configurations", "region", "transit_encryption_enabled",
)


@dataclass(frozen=True, kw_only=True)
class CacheArgs(IsolatedStoreArgs):
    # kms_key_arn also encrypts the auth secret and the slow-log group.
    config: CacheConfig


class Cache(pulumi.ComponentResource):
    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    auth_secret_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    url: pulumi.Output[str]
    replication_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cache:Cache", name, None, opts)
        # validate: the section was checked when the config loaded; these are the invariants
        # this component relies on whoever builds its args.
        cfg = args.config
        protection = args.protection
        if cfg.automatic_failover and cfg.num_nodes < 2:
            raise ValueError("automatic_failover needs num_nodes >= 2")
        if cfg.multi_az and not cfg.automatic_failover:
            raise ValueError("multi_az needs automatic_failover")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protection.protect, retain_on_delete=protection.retain_on_delete)
        snapshot_prefix = f"{name}-redis-final"
        if protection.final_snapshots:
            final_snapshot_identifier(snapshot_prefix, {})
        # Secrets Manager's maximum when the stack protects its data; its minimum otherwise,
        # so a torn-down dev stack can be rebuilt within the week. Never 0 (no recovery).
        recovery_days = 30 if protection.protect else 7

        # children
        store = isolated_store_network(
            name, "redis", engine="Redis", port=PORT, vpc_id=args.vpc_id, subnet_ids=args.subnet_ids,
            client_security_group_id=args.client_security_group_id, subnet_group=aws.elasticache.SubnetGroup, opts=child,
        )
        subnet_group, sg = store.subnet_group, store.security_group
        token = random.RandomPassword(f"{name}-redis-auth-token", length=AUTH_TOKEN_LENGTH, special=False, opts=child)
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-redis-slow-log",
            retention_in_days=cfg.slow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )

        settings = dict(
            description=f"{name}: Redis for sessions, cache and queues",
            engine="redis",
            engine_version=ENGINE_VERSION,
            parameter_group_name=PARAMETER_GROUP,
            node_type=cfg.node_type,
            # Cluster mode off: one primary and num_nodes - 1 replicas.
            num_cache_clusters=cfg.num_nodes,
            automatic_failover_enabled=cfg.automatic_failover,
            multi_az_enabled=cfg.multi_az,
            port=PORT,
            subnet_group_name=subnet_group.name,
            security_group_ids=[sg.id],
            # FSBP ElastiCache.4 (ForceNew: decided at creation).
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            # FSBP ElastiCache.5: TLS only, no plain-text fallback.
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            # AUTH on top of TLS (ElastiCache.6). ROTATE keeps the old token valid until the
            # app has the new one, so a token change never locks clients out.
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=cfg.snapshot_retention_days,
            snapshot_window=cfg.snapshot_window,
            maintenance_window=cfg.maintenance_window,
            auto_minor_version_upgrade=True,
            # Per stack (cache.apply_immediately): false, changes wait for the maintenance
            # window instead of failing over mid-day.
            apply_immediately=cfg.apply_immediately,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
        )
        identity = {arg: settings[arg] for arg in REPLACED_BY if settings.get(arg) is not None}
        final_snapshot = (
            pulumi.Output.all(**identity).apply(lambda values: final_snapshot_identifier(snapshot_prefix, values)) if protection.final_snapshots else None
        )
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            final_snapshot_identifier=final_snapshot,
            **settings,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(additional_secret_outputs=["authToken"])),
        )

        host = group.primary_endpoint_address
        url = pulumi.Output.secret(pulumi.Output.concat("rediss://:", token.result, "@", host, ":", str(PORT)))
        secret = aws.secretsmanager.Secret(
            f"{name}-redis-auth",
            description=f"{name}: Redis AUTH token and TLS connection URL",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=recovery_days,
            opts=stateful,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-redis-auth-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps({"auth_token": token.result, "host": host, "port": PORT, "url": url})
            ),
            opts=child,
        )

        # outputs
        self.primary_endpoint = host
        self.reader_endpoint = group.reader_endpoint_address
        self.port = group.port
        self.auth_secret_arn = secret.arn
        self.security_group_id = sg.id
        self.url = url
        # The nodes' cluster ids (`<group>-001`...): ElastiCache's host metrics are per node.
        self.member_cluster_ids = group.member_clusters
        # Its id (autonamed): `infra.alarms.member_cluster_id` derives each node's cluster id from
        # it and cache.num_nodes, so the alarms follow the config, not the group's last state.
        self.replication_group_id = group.id
        self.register_outputs(
            {
                "primary_endpoint": self.primary_endpoint,
                "reader_endpoint": self.reader_endpoint,
                "port": self.port,
                "auth_secret_arn": self.auth_secret_arn,
                "security_group_id": self.security_group_id,
                "url": self.url,
                "replication_group_id": self.replication_group_id,
            }
        )
