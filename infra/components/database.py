"""The environment's PostgreSQL: one RDS instance (plus read replicas) in the isolated subnets.

Creates:
- `{name}-db-subnets`: the DB subnet group over the isolated subnets (no route out of the
  VPC; FSBP RDS.46);
- `{name}-db-sg` with no egress and ONE ingress rule, `{name}-db-ingress`: TCP 5432 from the
  nodes' security group only (never a CIDR);
- `{name}-db-params`: a `postgres17` parameter group forcing TLS (`rds.force_ssl`) and
  logging slow statements; autonamed, so a new family (a major upgrade) is a new group
  created before the instance switches to it, and the old one is deleted after;
- `{name}-db-monitoring`: the enhanced-monitoring role (FSBP RDS.6), assumable only by RDS
  monitoring for this account, with AWS's managed policy attached (`{name}-db-monitoring-policy`);
- `{name}-db-master-password`: the master password, generated (kept in state as a secret,
  never in config); bumping `database.master_password_generation` rotates it;
- `{name}-db-master` (CMK-encrypted secret) and its version `{name}-db-master-value`: the
  master credential in the JSON shape RDS's own secrets use (engine, host, port, username,
  password, dbname), for break-glass use and rotation tooling;
- `{name}-db`: the instance. Storage encrypted with the CMK, IAM auth, CloudWatch log
  exports, Performance Insights, deletion protection / final snapshot / Pulumi protect +
  retain as the stack's protection says. Its final snapshot is `{name}-db-final-<8 hex>`,
  the hex a digest of what replaces the instance (`REPLACED_BY`), so no two deletions
  write the same snapshot name;
- `{name}-db-replica-{i}` (1-based): same-region read replicas, protected like the primary.

Why not `manage_master_user_password`: RDS refuses to create a read replica of a source
whose master password it manages in Secrets Manager ("CreateDBInstanceReadReplica ... not
supported for DB instances with ManageMasterUserPassword"; RDS User Guide, "Password
management with Amazon RDS and AWS Secrets Manager", Limitations), and prod keeps a replica.

Outputs: endpoint (address), port, reader_endpoint (first replica, or None),
instance_identifier, replica_identifiers (one per replica, in order), instance_arn,
resource_ids (primary and replicas, for IAM authentication), master_secret_arn,
master_password (secret), security_group_id.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components._shared import IsolatedStoreArgs, final_snapshot_identifier, isolated_store_network, service_role_trust
from infra.config import DatabaseConfig

# The major version only. With auto minor upgrades on, RDS moves the instance to new 17.x
# minors in the maintenance window (17.6 was the newest at the time of writing). A full pin
# ("17.6") would then read back as a downgrade on the next refresh; the usual cure,
# ignore_changes=["engineVersion"], also hides a deliberate upgrade, and a pinned minor
# stops being creatable once RDS retires it (a rebuilt dev stack would fail). The provider
# treats a prefix as satisfied by any 17.x (the running minor is `engine_version_actual`).
# A major upgrade is a deliberate change of ENGINE_VERSION + PARAMETER_FAMILY together.
ENGINE_VERSION = "17"
PARAMETER_FAMILY = "postgres17"
PORT = 5432
# RDS's current CA (RSA 2048, valid to 2061); the older rds-ca-2019 expired in 2024 (CKV_AWS_211).
CA_CERT = "rds-ca-rsa2048-g1"
# What RDS for PostgreSQL can publish to CloudWatch Logs; both are FSBP RDS.9.
LOG_EXPORTS = ["postgresql", "upgrade"]
# Statements slower than this (ms) are logged: enough to find slow queries, not a firehose.
SLOW_STATEMENT_MS = 1000
# RDS master passwords: 8-128 printable ASCII except '/', '"', '@' and space (CreateDBInstance,
# MasterUserPassword). Alphanumeric only is always valid and URL-safe; 40 of them is ~238 bits.
MASTER_PASSWORD_LENGTH = 40
# aws_db_instance's arguments a change of which replaces the instance (the provider's
# ForceNew schema, /work/shared/reference/force-new.json; `region` is its injected override).
# The final snapshot's name is derived from them: tests/test_lifecycle.py holds the two equal.
REPLACED_BY = (
    "availability_zone", "backup_target", "character_set_name", "custom_iam_instance_profile", "db_name", "engine",
    "kms_key_id", "nchar_character_set_name", "restore_to_point_in_time", "s3_import", "snapshot_identifier",
    "storage_encrypted", "timezone", "username", "region",
)


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs(IsolatedStoreArgs):
    # kms_key_arn also encrypts the master-password secret and Performance Insights.
    config: DatabaseConfig


class Database(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    reader_endpoint: pulumi.Output[str] | None
    instance_identifier: pulumi.Output[str]
    replica_identifiers: list[pulumi.Output[str]]
    instance_arn: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]
    master_password: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:database:Database", name, None, opts)
        # validate: the section was checked when the config loaded; these are the invariants
        # this component relies on whoever builds its args.
        cfg = args.config
        protection = args.protection
        if cfg.stop_off_hours and cfg.read_replicas:
            raise ValueError("a database that stops off-hours cannot have read replicas")
        if PARAMETER_FAMILY != f"postgres{ENGINE_VERSION.split('.')[0]}":
            raise ValueError(f"PARAMETER_FAMILY {PARAMETER_FAMILY} does not match ENGINE_VERSION {ENGINE_VERSION}: a major upgrade changes both")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        # The instance and its replicas hold (or serve) the data: Pulumi may neither delete
        # nor replace them when the stack protects its data stores.
        stateful = pulumi.ResourceOptions(parent=self, protect=protection.protect, retain_on_delete=protection.retain_on_delete)
        # `<name>-db-final` with a suffix per instance (final_snapshot_identifier), checked
        # before anything is created; the name is written once, when the instance is deleted.
        snapshot_prefix = f"{name}-db-final"
        if protection.final_snapshots:
            final_snapshot_identifier(snapshot_prefix, {})
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        # children
        master_password = random.RandomPassword(
            f"{name}-db-master-password",
            length=MASTER_PASSWORD_LENGTH,
            special=False,
            # A new generation is a new password: RDS applies a master password change at once,
            # whatever apply_immediately says (ModifyDBInstance, MasterUserPassword).
            keepers={"generation": str(cfg.master_password_generation)},
            opts=child,
        )
        store = isolated_store_network(
            name, "db", engine="PostgreSQL", port=PORT, vpc_id=args.vpc_id, subnet_ids=args.subnet_ids,
            client_security_group_id=args.client_security_group_id, subnet_group=aws.rds.SubnetGroup, opts=child,
        )
        subnet_group, sg = store.subnet_group, store.security_group
        # No `name`: autonamed (`{name}-db-params-<7 hex>`). The family is ForceNew, so a major
        # upgrade (a new PARAMETER_FAMILY) replaces the group, and Pulumi's default order
        # (create-before-delete) creates the new group under a new name, updates the instances
        # to it, and deletes the old group last, once nothing uses it. A fixed name would
        # collide (create first) or delete a group still attached (delete first).
        params = aws.rds.ParameterGroup(
            f"{name}-db-params",
            family=PARAMETER_FAMILY,
            description=f"{name}: TLS only, slow statements logged",
            parameters=[
                # In-transit encryption (CKV2_AWS_69): plain-text connections are refused.
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value=str(SLOW_STATEMENT_MS)),
                # Replicas only (a primary ignores them): a long read on a replica (the data
                # copy's dump, one REPEATABLE READ transaction) is not cancelled by vacuum on
                # the primary removing rows it still sees (the feedback holds them), nor by the
                # first conflicting lock replayed (it waits database.standby_delay_seconds).
                # "canceling statement due to conflict with recovery", AWS knowledge center
                # rds-postgresql-error-conflict-recovery; PostgreSQL "Hot Standby", Handling
                # Query Conflicts. All three reload without a restart (PostgreSQL's sighup
                # context): RDS applies them immediately (tests/test_database_params.py).
                aws.rds.ParameterGroupParameterArgs(name="hot_standby_feedback", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="max_standby_streaming_delay", value=str(cfg.standby_delay_seconds * 1000)),
                aws.rds.ParameterGroupParameterArgs(name="max_standby_archive_delay", value=str(cfg.standby_delay_seconds * 1000)),
            ],
            opts=child,
        )
        monitoring_role = aws.iam.Role(
            f"{name}-db-monitoring",
            description=f"{name}: RDS enhanced monitoring publishes OS metrics",
            assume_role_policy=service_role_trust("monitoring.rds.amazonaws.com", account),
            opts=child,
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-db-monitoring-policy",
            role=monitoring_role.name,
            policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
            opts=child,
        )

        # Settings the primary and its replicas share.
        common = dict(
            instance_class=cfg.instance_class,
            storage_type="gp3",
            # Storage autoscaling ceiling; absent (not 0) when off, so the diff stays clean.
            max_allocated_storage=cfg.max_allocated_storage_gb or None,
            # FSBP RDS.3: encrypted at rest with our CMK. Both are ForceNew: decide at creation.
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=LOG_EXPORTS,
            monitoring_interval=cfg.monitoring_interval,
            monitoring_role_arn=monitoring_role.arn,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.kms_key_arn,
            # The free tier; longer retention is billed per vCPU.
            performance_insights_retention_period=7,
            ca_cert_identifier=CA_CERT,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            deletion_protection=protection.deletion_protection,
            # Per stack (database.apply_immediately): false, changes wait for the maintenance
            # window instead of restarting the database mid-day.
            apply_immediately=cfg.apply_immediately,
            maintenance_window=cfg.maintenance_window,
        )

        # No explicit `identifier`: Pulumi autonames it (`{name}-db-<7 hex>`), so a
        # replacement (e.g. a new KMS key) can create the new instance before deleting the
        # old one instead of colliding on the name. Clients read the endpoint from outputs.
        primary = dict(
            engine="postgres",
            engine_version=ENGINE_VERSION,
            # RDS refuses a new major ENGINE_VERSION unless this is set (database.allow_major_version_upgrade).
            allow_major_version_upgrade=cfg.allow_major_version_upgrade,
            allocated_storage=cfg.allocated_storage_gb,
            multi_az=cfg.multi_az,
            port=PORT,
            db_name=cfg.database_name,
            username=cfg.admin_username,
            password=master_password.result,
            backup_retention_period=cfg.backup_retention_days,
            backup_window=cfg.backup_window,
            # Keep the automated backups (point-in-time recovery) after a deletion exactly when
            # the stack keeps final snapshots; the KMS key then outlives the stack as well
            # (ProtectionConfig.key_outlives_stack), or they could not be read.
            delete_automated_backups=not protection.keeps_encrypted_backups,
            skip_final_snapshot=not protection.final_snapshots,
            **common,
        )
        identity = {arg: primary[arg] for arg in REPLACED_BY if primary.get(arg) is not None}
        final_snapshot = (
            pulumi.Output.all(**identity).apply(lambda values: final_snapshot_identifier(snapshot_prefix, values)) if protection.final_snapshots else None
        )
        instance = aws.rds.Instance(
            f"{name}-db",
            final_snapshot_identifier=final_snapshot,
            **primary,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[monitoring_policy])),
        )

        secret = aws.secretsmanager.Secret(
            f"{name}-db-master",
            description=f"{name}: PostgreSQL master credential (break-glass and the roles job; the app has its own)",
            kms_key_id=args.kms_key_arn,
            # Secrets Manager's maximum when the stack protects its data, its minimum otherwise.
            recovery_window_in_days=30 if protection.protect else 7,
            opts=stateful,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-db-master-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps(
                    {
                        "engine": "postgres",
                        "host": instance.address,
                        "port": instance.port,
                        "username": cfg.admin_username,
                        "password": master_password.result,
                        "dbname": cfg.database_name,
                    }
                )
            ),
            opts=child,
        )

        replicas = [
            aws.rds.Instance(
                f"{name}-db-replica-{i + 1}",
                # The source's ARN, not its identifier: a same-region replica that names a DB
                # subnet group must reference its source by ARN (provider docs,
                # `replicate_source_db`). Engine, version, storage size, db name and the master
                # credential all come from the source.
                replicate_source_db=instance.arn,
                # A replica's data lives in its source's backups and snapshots.
                backup_retention_period=0,
                skip_final_snapshot=True,
                # One AZ per replica: the primary is the Multi-AZ one; replicas scale reads.
                multi_az=False,
                **common,
                opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[monitoring_policy])),
            )
            for i in range(cfg.read_replicas)
        ]

        # outputs
        self.endpoint = instance.address
        self.port = instance.port
        self.reader_endpoint = replicas[0].address if replicas else None
        self.instance_identifier = instance.identifier
        # The replicas' DBInstanceIdentifiers, in order (their CloudWatch alarms name them).
        self.replica_identifiers = [r.identifier for r in replicas]
        self.instance_arn = instance.arn
        # RDS IAM authentication (rds-db:connect) names instances by these (db-...), primary first.
        self.resource_ids = pulumi.Output.all(instance.resource_id, *(r.resource_id for r in replicas))
        self.master_secret_arn = secret.arn
        self.master_password = pulumi.Output.secret(master_password.result)
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "port": self.port,
                "reader_endpoint": self.reader_endpoint,
                "instance_identifier": self.instance_identifier,
                "replica_identifiers": self.replica_identifiers,
                "instance_arn": self.instance_arn,
                "resource_ids": self.resource_ids,
                "master_secret_arn": self.master_secret_arn,
                "security_group_id": self.security_group_id,
            }
        )
