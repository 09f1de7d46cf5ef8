"""The anonymized copy of prod into staging, where it runs (docs/data.md; the copy itself is
infra/data/copy.py). Un-masked data never leaves prod: prod's CronJob reads the read replica and
writes only the masked dump; staging's reads only that dump.

`DataCopySource` (the production stack, `data_copy.role: source`) creates:
- `{name}-data-copy-key` / `-alias`: a KMS key of the dumps' own, so that its policy can let
  the target account's restore role (and no other principal there) decrypt, through S3 only;
- `{name}-data-copy-bucket` and its configuration (infra/components/_shared.py private_bucket):
  `<name>-data-copy-<account>-<region>`, SSE-KMS with that key, every public access block,
  TLS only, dumps expired `data_copy.keep_dumps_days` after they were written; its policy lets
  the restore role list the bucket and get objects, nothing else;
- `{name}-data-image`: the ECR repository `platform-data` (infra/versions.py) the copy's image
  is pushed to (.github/workflows/data-image.yml), tags immutable, scanned on push, with
  `-image-policy` (the target account may pull) and `-image-lifecycle` (the last 20 images);
- `{name}-data-masking-key`: the masking key (a secret in state, 64 characters): the same
  input masks to the same fake every week, and staging never sees it;
- `{name}-data-copy-role` / `-policy`: the job's IRSA role (`platform-db/data-copy`): put
  objects into the bucket, the key through S3, `rds-db:connect` as `team_read_only` (IAM
  authentication; SELECT on the app's schema through `app_readonly`) on the read replica only;
- `{name}-data-copy-sa`, `{name}-data-copy-secret`: its ServiceAccount and the Secret with the
  masking key;
- `{name}-data-copy`: the CronJob `data-copy` in `platform-db` (`data_copy.schedule` in
  `data_copy.timezone`, concurrencyPolicy Forbid): `python -m infra.data.job source`
  (infra/data/job.py): an IAM token per step, `check`, then `dump` against the replica, then
  the dump and its report (`report.json`, written last, so its presence marks a whole dump)
  to `s3://<bucket>/dumps/<UTC stamp>/`.

`DataCopyTarget` (the staging stack, `data_copy.role: target`) creates:
- `{name}-data-restore-role` / `-policy`: the IRSA role `platform-<env>-data-restore`
  (`platform-db/data-restore`; a fixed name, the source's policies name it): list and get the
  source bucket's objects, decrypt with its key through S3 for that bucket only;
- `{name}-data-restore-sa`: its ServiceAccount;
- `{name}-data-restore`: the CronJob `data-restore` in `platform-db` (concurrencyPolicy
  Forbid): `python -m infra.data.job target`: the newest dump whose report exists, then the
  copy's `restore --owner app_migrator --roles` with the roles Job's Secret (the master's PG* variables and the
  verifiers): a new database, the roles script on it, verified, then swapped in; any failure
  leaves staging's database as it was.

Both Jobs run once per schedule (backoffLimit 0: a failed copy is looked at, then run on demand),
and their failure is the `DataCopyFailed` alert (infra/telemetry.py platform_rules); no
successful run for longer than the schedule allows is `DataCopyNotRun`. The Jobs
the CronJobs create are not in Pulumi's state, so they carry a TTL (3 days: a failed one is
there on Monday, with its logs).

Outputs: source: bucket_name, key_arn, repository_url, role_arn, cron_job; target: role_arn,
cron_job.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import dbroles
from infra.components._shared import PLATFORM_PRIORITY_CLASS, private_bucket, stateful_options, workload_identity
from infra.config import DataCopyConfig, ProtectionConfig, data_copy_bucket_name, data_restore_role_name
from infra.telemetry import DATA_COPY_CRON_JOBS
from infra.versions import DATA_IMAGE_REPOSITORY, DATA_IMAGE_UID, data_image

NAMESPACE = "platform-db"  # infra/components/db_roles.py creates it
SOURCE_JOB = DATA_COPY_CRON_JOBS["source"]
TARGET_JOB = DATA_COPY_CRON_JOBS["target"]
# A finished Job (created by the CronJob, not by Pulumi) is kept this long: a Saturday failure
# is still there, with its pod's logs, on Monday.
JOB_TTL_SECONDS = 3 * 24 * 3600
# The Job's scratch volume: the dump (gzipped COPY text) and, while it is written, one table
# uncompressed. 20 GiB covers platform:cost.data_dump_gb many times over.
SCRATCH_SIZE = "20Gi"
# Images the repository keeps (the lifecycle expires older ones): months of weekly tags.
IMAGES_KEPT = 20


def restore_role_arn(target_account_id: str, target_environment: str) -> str:
    return f"arn:aws:iam::{target_account_id}:role/{data_restore_role_name(target_environment)}"


def session_options(deadline_hours: int) -> str:
    """libpq `options` for the dump's session. team_read_only's role settings cap a statement
    at a minute and an idle transaction at ten (infra/dbroles.py, for people); the dump's COPY
    of a large table runs longer, and between two tables its one transaction sits idle while
    the last table is compressed into the archive (gzip of a few GB takes minutes). Startup
    options outrank role settings (PostgreSQL's GUC source order: client over user), so the
    Job's own session gets the Job's deadline for both instead, and only it."""
    return f"-c statement_timeout={deadline_hours}h -c idle_in_transaction_session_timeout={deadline_hours}h"


def source_url(host: str, port: int | str, database: str, deadline_hours: int) -> str:
    """The replica as team_read_only (the IAM token is PGPASSWORD), TLS required."""
    options = urllib.parse.quote(session_options(deadline_hours), safe="")
    return f"postgresql://{dbroles.READ_ONLY_ROLE}@{host}:{port}/{database}?sslmode=require&connect_timeout=10&options={options}"


def source_command(bucket: str, key_arn: str, region: str) -> list[str]:
    """The source Job's command (infra/data/job.py): an IAM token per step, check, dump, then
    the dump and its report to the bucket under the dumps key."""
    return ["python", "-m", "infra.data.job", "source", "--bucket", bucket, "--key-arn", key_arn, "--region", region]


def target_command(bucket: str, region: str, database: str) -> list[str]:
    """The target Job's command (infra/data/job.py): the newest whole dump, restored as the
    master (the roles Job's Secret) into a new database, the roles script on it, swapped in."""
    return ["python", "-m", "infra.data.job", "target", "--bucket", bucket, "--region", region, "--target", database, "--owner", dbroles.MIGRATOR_ROLE, "--roles"]


def cron_job_spec(
    app: str, config: DataCopyConfig, *, image: str, command: pulumi.Input[Sequence[str]], service_account: pulumi.Input[str],
    env: Sequence[k8s.core.v1.EnvVarArgs] = (), env_from: Sequence[k8s.core.v1.EnvFromSourceArgs] = (),
) -> k8s.batch.v1.CronJobSpecArgs:
    """A CronJob running `command` once per `config.schedule`, hardened for Pod Security
    `restricted` (non-root, read-only root, no capabilities), with an emptyDir at /work."""
    labels = {"app.kubernetes.io/name": app}
    return k8s.batch.v1.CronJobSpecArgs(
        schedule=config.schedule,
        time_zone=config.timezone,
        # Never two copies at once: a restore swapping while another loads, two dumps racing.
        concurrency_policy="Forbid",
        # A run the controller missed by up to an hour (an upgrade, a restart) still starts.
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=1,
        failed_jobs_history_limit=1,
        job_template=k8s.batch.v1.JobTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=0,
                active_deadline_seconds=config.deadline_hours * 3600,
                ttl_seconds_after_finished=JOB_TTL_SECONDS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        service_account_name=service_account,
                        # IRSA's web identity token is its own projected volume (the EKS pod
                        # identity webhook adds it); the Kubernetes API token is not needed.
                        automount_service_account_token=False,
                        priority_class_name=PLATFORM_PRIORITY_CLASS,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=DATA_IMAGE_UID, run_as_group=DATA_IMAGE_UID, fs_group=DATA_IMAGE_UID,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="copy",
                                image=image,
                                command=command,
                                env=[
                                    # The copy's scratch files (the dump, a table's rows): the only writable place.
                                    k8s.core.v1.EnvVarArgs(name="HOME", value="/work"),
                                    k8s.core.v1.EnvVarArgs(name="TMPDIR", value="/work"),
                                    *env,
                                ],
                                env_from=list(env_from) or None,
                                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="work", mount_path="/work")],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "250m", "memory": "512Mi", "ephemeral-storage": SCRATCH_SIZE},
                                    limits={"memory": "1Gi", "ephemeral-storage": SCRATCH_SIZE},
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False, read_only_root_filesystem=True, capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])
                                ),
                            )
                        ],
                        volumes=[k8s.core.v1.VolumeArgs(name="work", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=SCRATCH_SIZE))],
                    ),
                ),
            ),
        ),
    )


def _meta(app: str, name: str | None = None, **extra: Any) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name or app, namespace=NAMESPACE, labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": app}, **extra
    )


@dataclass(frozen=True)
class DataCopySourceArgs:
    config: DataCopyConfig
    region: str
    account_id: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # The read replica the copy reads (Database.reader_endpoint), its port and resource id
    # (what rds-db:connect names): never the primary.
    replica_host: pulumi.Input[str]
    replica_port: pulumi.Input[int]
    replica_resource_id: pulumi.Input[str]
    database_name: str
    # The stack's protection: the key is protected (and retained) where the stack keeps data.
    protection: ProtectionConfig = ProtectionConfig()
    # The `platform-db` namespace and the database's roles (DbRoles), nodes, CoreDNS.
    workload_dependencies: Sequence[pulumi.Resource] = ()


class DataCopySource(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    cron_job: str

    def __init__(self, name: str, args: DataCopySourceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:data_copy:DataCopySource", name, None, opts)
        # validate
        cfg = args.config
        if cfg.role != "source" or cfg.target_account_id is None:
            raise ValueError("DataCopySource is built only with data_copy.role source (and its target_account_id)")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.workload_dependencies))
        reader = restore_role_arn(cfg.target_account_id, cfg.target_environment)
        target_root = f"arn:aws:iam::{cfg.target_account_id}:root"
        # The principal is the target account, narrowed to the one role by aws:PrincipalArn: a
        # policy naming a role that does not exist yet is refused (MalformedPolicyDocument),
        # and this way either stack can be deployed first.
        only_the_restore_role = {"ArnEquals": {"aws:PrincipalArn": reader}}
        bucket_name = data_copy_bucket_name(name, args.account_id, args.region)

        # children: the key, the bucket
        key = aws.kms.Key(
            f"{name}-data-copy-key",
            description=f"{name}: the anonymized copy's dumps (readable by {reader} through S3)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(
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
                        {
                            "Sid": "TheRestoreRoleDecryptsThroughS3",
                            "Effect": "Allow",
                            "Principal": {"AWS": target_root},
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {**only_the_restore_role, "StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}},
                        },
                    ],
                }
            ),
            opts=stateful_options(self, args.protection),
        )
        aws.kms.Alias(f"{name}-data-copy-alias", name=f"alias/{name}-data-copy", target_key_id=key.key_id, opts=child)

        def grants(bucket: aws.s3.Bucket) -> list[dict[str, Any]]:
            bucket_arn = bucket.arn
            return [
                {"Sid": "TheRestoreRoleLists", "Effect": "Allow", "Principal": {"AWS": target_root}, "Action": "s3:ListBucket", "Resource": bucket_arn, "Condition": only_the_restore_role},
                {
                    "Sid": "TheRestoreRoleReads", "Effect": "Allow", "Principal": {"AWS": target_root}, "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(bucket_arn, "/*"), "Condition": only_the_restore_role,
                },
            ]  # fmt: skip

        store = private_bucket(
            name, "data-copy-bucket", bucket_name=bucket_name, kms_key_arn=key.arn, expire_days=cfg.keep_dumps_days, opts=child, policy_statements=grants,
        )

        # children: the image's repository
        repository = aws.ecr.Repository(
            f"{name}-data-image",
            name=DATA_IMAGE_REPOSITORY,
            # A tag is a pin (infra/versions.py): it must never point at another image.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            # AES256 (S3-managed keys): the image holds code, no data; a KMS-encrypted
            # repository would need the target's nodes granted on its key to pull.
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            # A fixed name (name and encryption are ForceNew, policy/force_new.json): a replacement
            # must delete the old repository first, or ECR refuses the duplicate name; ECR refuses
            # to delete one that holds images (no force_delete), so nothing is lost unasked.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        aws.ecr.RepositoryPolicy(
            f"{name}-data-image-policy",
            repository=repository.name,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TheTargetAccountPulls",
                            "Effect": "Allow",
                            # The account: its nodes' role pulls (AmazonEC2ContainerRegistryReadOnly there).
                            "Principal": {"AWS": target_root},
                            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-data-image-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the last {IMAGES_KEPT} images",
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": IMAGES_KEPT},
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )

        # children: the job's identity, its secret, the CronJob
        masking_key = random.RandomPassword(f"{name}-data-masking-key", length=64, special=False, opts=child)
        replica_user = pulumi.Output.from_input(args.replica_resource_id).apply(
            lambda rid: f"arn:aws:rds-db:{args.region}:{args.account_id}:dbuser:{rid}/{dbroles.READ_ONLY_ROLE}"
        )
        role, grant = workload_identity(
            name,
            SOURCE_JOB,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_provider_url=args.oidc_provider_url,
            namespace=NAMESPACE,
            service_account=SOURCE_JOB,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "PutTheDumps", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": pulumi.Output.concat(store.bucket.arn, "/*")},
                        {
                            "Sid": "TheKeyThroughS3",
                            "Effect": "Allow",
                            # Decrypt too: a multipart upload (the CLI's, over 8 MB) reads its data keys back.
                            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                            "Resource": key.arn,
                            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}},
                        },
                        {"Sid": "ReadTheReplica", "Effect": "Allow", "Action": "rds-db:connect", "Resource": replica_user},
                    ],
                }
            ),
            opts=child,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-data-copy-sa", metadata=_meta(SOURCE_JOB, annotations={"eks.amazonaws.com/role-arn": role.arn}), automount_service_account_token=False, opts=after
        )
        secret = k8s.core.v1.Secret(
            f"{name}-data-copy-secret",
            metadata=_meta(SOURCE_JOB, "data-copy-masking-key"),
            type="Opaque",
            string_data=pulumi.Output.secret(masking_key.result.apply(lambda k: {"DATA_MASKING_KEY": k})),
            opts=after,
        )
        url = pulumi.Output.all(args.replica_host, args.replica_port).apply(lambda a: source_url(a[0], a[1], args.database_name, cfg.deadline_hours))
        image = data_image(args.account_id, args.region, cfg.image_tag)
        job = k8s.batch.v1.CronJob(
            f"{name}-data-copy",
            metadata=_meta(SOURCE_JOB),
            spec=cron_job_spec(
                SOURCE_JOB,
                cfg,
                image=image,
                command=pulumi.Output.all(store.bucket.bucket, key.arn).apply(lambda a: source_command(a[0], a[1], args.region)),
                service_account=account.metadata.name,
                # The replica as team_read_only; the Job signs an IAM token for its host, port and user.
                env=[k8s.core.v1.EnvVarArgs(name="SOURCE_DATABASE_URL", value=url)],
                env_from=[k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name))],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.workload_dependencies, grant, *store.ready]),
        )

        # outputs
        self.bucket_name = store.bucket.bucket
        self.key_arn = key.arn
        self.repository_url = repository.repository_url
        self.role_arn = role.arn
        self.cron_job = SOURCE_JOB
        self.register_outputs(
            {"bucket_name": self.bucket_name, "key_arn": self.key_arn, "repository_url": self.repository_url, "role_arn": self.role_arn, "cron_job": job.metadata.name}
        )


@dataclass(frozen=True)
class DataCopyTargetArgs:
    config: DataCopyConfig
    environment: str
    region: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    # The database the copy replaces (database.database_name).
    database_name: str
    # The roles Job's Secret (DbRoles.credentials_secret): the master's PG* and the verifiers.
    credentials_secret: pulumi.Input[str]
    # The `platform-db` namespace and the database's roles (DbRoles), nodes, CoreDNS.
    workload_dependencies: Sequence[pulumi.Resource] = ()


class DataCopyTarget(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    cron_job: str

    def __init__(self, name: str, args: DataCopyTargetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:data_copy:DataCopyTarget", name, None, opts)
        # validate
        cfg = args.config
        if cfg.role != "target" or cfg.source_account_id is None or cfg.source_bucket is None:
            raise ValueError("DataCopyTarget is built only with data_copy.role target (and its source_account_id, source_bucket)")

        # derive
        child = pulumi.ResourceOptions(parent=self)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.workload_dependencies))
        bucket_arn = f"arn:aws:s3:::{cfg.source_bucket}"

        # children
        role, grant = workload_identity(
            name,
            TARGET_JOB,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_provider_url=args.oidc_provider_url,
            namespace=NAMESPACE,
            service_account=TARGET_JOB,
            role_name=data_restore_role_name(args.environment),
            policy=json.dumps(restore_policy(cfg.source_account_id, bucket_arn)),
            opts=child,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-data-restore-sa", metadata=_meta(TARGET_JOB, annotations={"eks.amazonaws.com/role-arn": role.arn}), automount_service_account_token=False, opts=after
        )
        job = k8s.batch.v1.CronJob(
            f"{name}-data-restore",
            metadata=_meta(TARGET_JOB),
            spec=cron_job_spec(
                TARGET_JOB,
                cfg,
                image=data_image(cfg.source_account_id, args.region, cfg.image_tag),
                command=target_command(cfg.source_bucket, args.region, args.database_name),
                service_account=account.metadata.name,
                env_from=[k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=args.credentials_secret))],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.workload_dependencies, grant]),
        )

        # outputs
        self.role_arn = role.arn
        self.cron_job = TARGET_JOB
        self.register_outputs({"role_arn": self.role_arn, "cron_job": job.metadata.name})


def restore_policy(source_account_id: str, bucket_arn: str) -> dict[str, Any]:
    """The restore role's grants: the source bucket's listing and objects, and its key through
    S3 for that bucket only (the key's ARN is the source stack's; the encryption context S3
    sends, the bucket's ARN with an S3 Bucket Key, pins it here)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListTheDumps", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Sid": "GetTheDumps", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"},
            {
                "Sid": "TheSourceKeyThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": f"arn:aws:kms:*:{source_account_id}:key/*",
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]}},
            },
        ],
    }

