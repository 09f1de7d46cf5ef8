"""Building blocks several components create the same way. Not a component itself.

- `IsolatedStoreArgs`: the arguments every data store shares (protection, VPC, subnets,
  clients, key);
- `final_snapshot_identifier`: a final snapshot's name of its own per deletion;
- `service_role_trust`: the trust policy of a role an AWS service assumes on this
  account's behalf, with the confused-deputy guard;
- `pod_identity_trust`: the trust policy of an EKS Pod Identity role, `irsa_trust_policy`
  an IRSA role's, and `workload_identity` a workload's IRSA role with its grants;
- `private_bucket`: an S3 bucket with every control the policy pack asks of one, and
  `bucket_access_policy`, a workload's grants on its bucket; `telemetry_store`, both with
  the IRSA role of the telemetry backend that uses the bucket (Loki, Tempo, Thanos);
- `pinned_release`: a Helm release of a chart at a pinned version from its repository;
- `psql_job_spec`: the spec of a Job that runs psql scripts from a ConfigMap with libpq's
  variables from a Secret, hardened for Pod Security `restricted`;
- `AUTOSCALER_TAG`: the tag that lets the Cluster Autoscaler act on a node group;
- `zone_spread`: the topology spread of a platform Deployment's replicas over the AZs, and
  `PLATFORM_PRIORITY_CLASS`, the priority of the platform's pods outside kube-system;
- `isolated_store_network`: what every data store in the isolated subnets needs before the
  store itself: its subnet group, a security group with no egress and ONE ingress rule from
  the clients' security group on the store's port. Logical names are the caller's
  (`{name}-{role}-subnets`, `-sg`, `-ingress`), so moving code here moved no URN;
- `alarm_topic`, `subscribe_function`, `metric_alarm`: CloudWatch alarms (infra/alarms.py) and
  the KMS-encrypted SNS topic they notify, with its policy and the function it invokes, for
  every region alarms are made in (infra/components/alerting.py, uptime.py), and
  `cloudwatch_alarms_key_statement`, what the topic's key policy must allow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import telemetry
from infra.config import SNAPSHOT_IDENTIFIER, ProtectionConfig
from infra.versions import POSTGRES_CLIENT_IMAGE


def service_role_trust(service: str, account: pulumi.Input[str]) -> pulumi.Output[str]:
    """Only `service` may assume the role, and only for resources of `account`."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    # Confused-deputy guard: the service acting for another account cannot use it.
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
    )


def pod_identity_trust(account: pulumi.Input[str]) -> pulumi.Output[str]:
    """EKS Pod Identity may assume the role (and tag the session with the pod's cluster,
    namespace and service account), for this account's clusters only. Which service account
    gets it is the PodIdentityAssociation's, not the trust policy's (EKS user guide,
    "Create an IAM role with the trust policy required by EKS Pod Identity")."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "pods.eks.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
    )


def irsa_trust_policy(oidc_provider_arn: str, oidc_provider_url: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Trust policy letting one Kubernetes service account assume a role via the cluster's OIDC provider."""
    issuer = oidc_provider_url.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def pinned_release(
    logical_name: str, *, release: str, chart: str, version: str, repo: str, namespace: pulumi.Input[str], values: Mapping[str, Any],
    opts: pulumi.ResourceOptions, **options: Any,
) -> k8s.helm.v3.Release:
    """A Helm release of `chart` at `version` (vendored under infra/charts/<chart>/<version>/,
    where `infra check` validates `values`), named `release` in `namespace`."""
    return k8s.helm.v3.Release(
        logical_name,
        name=release,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=namespace,
        values=dict(values),
        opts=opts,
        **options,
    )


# The tag the autoscaler discovers node groups by, whose IAM policy scales only groups
# carrying it `enabled`, and which the off-hours schedules set `paused` before a group
# sleeps (infra/components/scaling.py, offhours.py): at night nothing scales a group up.
AUTOSCALER_TAG = "platform/autoscaler"
AUTOSCALER_ENABLED = "enabled"
AUTOSCALER_PAUSED = "paused"

# The PriorityClass infra/components/addons.py creates; a release that names it waits for it.
PLATFORM_PRIORITY_CLASS = "platform-critical"


def zone_spread(selector: Mapping[str, str], mode: str) -> list[dict[str, Any]]:
    """A Deployment's replicas spread over the Availability Zones, one at most ahead of
    another: `required` (DoNotSchedule) or `preferred` (ScheduleAnyway), ClusterConfig.zone_spread."""
    when = {"required": "DoNotSchedule", "preferred": "ScheduleAnyway"}[mode]
    return [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": when, "labelSelector": {"matchLabels": dict(selector)}}]


@dataclass(frozen=True, kw_only=True)
class IsolatedStoreArgs:
    """What every data store in the isolated subnets is given besides its own config section."""

    protection: ProtectionConfig
    vpc_id: pulumi.Input[str]
    # The isolated subnets: data stores have no route out of the VPC.
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    # The only clients: the Kubernetes nodes' security group.
    client_security_group_id: pulumi.Input[str]
    # The CMK for data at rest and the store's secret.
    kms_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class StoreNetwork:
    subnet_group: Any
    security_group: aws.ec2.SecurityGroup


def isolated_store_network(
    name: str,
    role: str,
    *,
    engine: str,
    port: int,
    vpc_id: pulumi.Input[str],
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    client_security_group_id: pulumi.Input[str],
    subnet_group: Callable[..., Any],
    opts: pulumi.ResourceOptions,
) -> StoreNetwork:
    """`subnet_group` is the store's subnet-group class (aws.rds.SubnetGroup, aws.elasticache.SubnetGroup)."""
    group = subnet_group(
        f"{name}-{role}-subnets",
        description=f"{name}: {engine} in the isolated subnets",
        subnet_ids=subnet_ids,
        opts=opts,
    )
    sg = aws.ec2.SecurityGroup(
        f"{name}-{role}-sg",
        vpc_id=vpc_id,
        description=f"{name} {engine}: {port}/tcp from the nodes only",
        # Explicitly none: a data store never opens connections, and an out-of-band egress
        # rule is removed on the next update.
        egress=[],
        tags={"Name": f"{name}-{role}"},
        opts=opts,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-{role}-ingress",
        security_group_id=sg.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=client_security_group_id,
        description=f"{engine} from the Kubernetes nodes",
        opts=opts,
    )
    return StoreNetwork(group, sg)


def final_snapshot_identifier(prefix: str, identity: Mapping[str, Any]) -> str:
    """`<prefix>-<8 hex>`: the hex a digest of the store's replacing inputs (`identity`).

    A final snapshot name must be new at every deletion: DeleteDBInstance fails with
    DBSnapshotAlreadyExists and DeleteReplicationGroup with SnapshotAlreadyExistsFault, and
    the store stays. The stores one stack creates in turn differ in these inputs: a
    replacement changes one of them by definition, and a rebuilt stack has a new KMS key.
    The provider deletes with the name in the old resource's state, so the replacement's new
    name never meets it. Deterministic: no extra resource, known at preview once the key is.
    """
    digest = hashlib.sha256(json.dumps(dict(identity), sort_keys=True, default=str).encode()).hexdigest()[:8]
    name = f"{prefix}-{digest}"
    # RDS (DeleteDBInstance, FinalDBSnapshotIdentifier): 1-255 letters, digits and hyphens, first
    # a letter, no two consecutive hyphens, none at the end. ElastiCache documents no rule and
    # is held to the same, which every snapshot API accepts.
    if not SNAPSHOT_IDENTIFIER.match(name):
        raise ValueError(f"final snapshot name {name!r}: allowed are 1-255 letters, digits and single hyphens, starting with a letter")
    return name


# The alpine postgres image's `postgres` user (infra.versions.POSTGRES_CLIENT_IMAGE).
PSQL_IMAGE_UID = 70
# Long enough for RDS to accept the first connection of a fresh instance; short enough that
# a Job that cannot connect fails the deploy in minutes, not hours.
PSQL_JOB_DEADLINE_SECONDS = 600


def psql_job_spec(app: str, command: str, credentials_secret: pulumi.Input[str], scripts_config_map: pulumi.Input[str]) -> k8s.batch.v1.JobSpecArgs:
    """A Job that runs `command` (a shell line calling psql on /sql/<file>) once: libpq's PG*
    variables from `credentials_secret`, the scripts mounted from `scripts_config_map`,
    non-root, read-only root, no capabilities, no service account token. No
    ttlSecondsAfterFinished: the TTL controller would delete a Job that Pulumi's state still
    holds, and the next update would run it again for nothing."""
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=3,
        active_deadline_seconds=PSQL_JOB_DEADLINE_SECONDS,
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app.kubernetes.io/name": app}),
            spec=k8s.core.v1.PodSpecArgs(
                restart_policy="Never",
                automount_service_account_token=False,
                security_context=k8s.core.v1.PodSecurityContextArgs(
                    run_as_non_root=True, run_as_user=PSQL_IMAGE_UID, run_as_group=PSQL_IMAGE_UID, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
                ),
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="psql",
                        image=POSTGRES_CLIENT_IMAGE,
                        command=["sh", "-c", command],
                        env_from=[k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=credentials_secret))],
                        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="sql", mount_path="/sql", read_only=True)],
                        resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}),
                        security_context=k8s.core.v1.SecurityContextArgs(
                            allow_privilege_escalation=False, read_only_root_filesystem=True, capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])
                        ),
                    )
                ],
                volumes=[k8s.core.v1.VolumeArgs(name="sql", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=scripts_config_map))],
            ),
        ),
    )


def stateful_options(parent: pulumi.Resource, protection: ProtectionConfig) -> pulumi.ResourceOptions:
    """A child that holds data: protected and retained on delete as the stack's protection says."""
    return pulumi.ResourceOptions(parent=parent, protect=protection.protect, retain_on_delete=protection.retain_on_delete)


@dataclass(frozen=True)
class PrivateBucket:
    bucket: aws.s3.Bucket
    # What writes must wait for: the bucket's encryption, public access block and policy.
    ready: list[pulumi.Resource]
    versioning: aws.s3.BucketVersioning
    policy: aws.s3.BucketPolicy


def private_bucket(
    name: str,
    role: str,
    *,
    bucket_name: str,
    kms_key_arn: pulumi.Input[str],
    expire_days: int,
    opts: pulumi.ResourceOptions,
    stateful: pulumi.ResourceOptions | None = None,
    noncurrent_days: int = 1,
    expire_rule_id: str = "expire-after-retention",
    abort_incomplete_uploads: bool = True,
    object_lock: bool = False,
    policy_statements: Callable[[aws.s3.Bucket], Sequence[Any]] = lambda bucket: (),
) -> PrivateBucket:
    """An S3 bucket nobody outside the account reads: `{name}-{role}` and its `-ownership`
    (BucketOwnerEnforced: ACLs off), `-public-access` (all four blocks), `-versioning`,
    `-encryption` (SSE-KMS with the stack's key and an S3 Bucket Key, which cuts the KMS
    requests a busy writer makes by orders of magnitude), `-lifecycle` and `-policy` (TLS
    only, then `policy_statements(bucket)`: a service's grants, e.g. CloudTrail's).

    The lifecycle expires objects `expire_days` after they were written, and what they leave
    behind (noncurrent versions) `noncurrent_days` later. For telemetry (Thanos, Loki and
    Tempo blocks) an object is always written after the data it holds, so an object older
    than the retention holds only data older than it: the lifecycle is the retention's
    backstop and never deletes younger data; versioning keeps what a compactor overwrites or
    deletes for one more day (a bad compaction is recoverable), then lets go.
    `stateful` (stateful_options) protects and retains the bucket itself where the stack
    keeps its data. `object_lock` creates the bucket with S3 Object Lock enabled (turning it
    off later replaces the bucket: force_new.json).
    """
    bucket = aws.s3.Bucket(
        f"{name}-{role}",
        bucket=bucket_name,
        object_lock_enabled=True if object_lock else None,
        # A fixed name: a replacement must delete the old bucket first, which S3 refuses while
        # it holds objects; nothing here empties it (no force_destroy).
        opts=pulumi.ResourceOptions.merge(stateful or opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-{role}-ownership", bucket=bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=opts
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-{role}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-{role}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=opts,
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-{role}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=opts,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-{role}-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=expire_rule_id,
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),  # empty: every object (SDK docstring)
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=noncurrent_days),
                abort_incomplete_multipart_upload=(
                    aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=1) if abort_incomplete_uploads else None
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="remove-expired-delete-markers",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
            ),
        ],
        # The rules refer to noncurrent versions: versioning first.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    policy = aws.s3.BucketPolicy(
        f"{name}-{role}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    *policy_statements(bucket),
                ],
            }
        ),
        # S3 refuses concurrent changes to one bucket's configuration (OperationAborted).
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ownership, public_access])),
    )
    return PrivateBucket(bucket, [encryption, public_access, policy], versioning, policy)


def bucket_access_policy(bucket_arn: str, kms_key_arn: str, *, read_only: bool = False) -> dict[str, Any]:
    """A workload's grants on its one bucket: list it, read (and write and delete) its
    objects, and use the key that encrypts them, only through S3 in this region."""
    object_actions = ["s3:GetObject"] if read_only else ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListTheBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn},
            {"Sid": "ItsObjects", "Effect": "Allow", "Action": object_actions, "Resource": f"{bucket_arn}/*"},
            {
                "Sid": "ItsKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            },
        ],
    }


def workload_identity(
    name: str,
    role: str,
    *,
    oidc_provider_arn: pulumi.Input[str],
    oidc_provider_url: pulumi.Input[str],
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    role_name: str | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """`{name}-{role}-role`, assumable only by `namespace/service_account` through the
    cluster's OIDC provider (IRSA: the chart annotates the service account with the role's
    ARN), with its inline `{name}-{role}-policy`.

    IRSA, not EKS Pod Identity, for the telemetry backends: Thanos's and Tempo's S3 client
    (minio-go) does not take Pod Identity's container credentials reliably
    (thanos-io/objstore#131, open; minio/minio-go#2003), while every AWS SDK and minio-go
    read the web identity token IRSA mounts. `role_name`: a fixed IAM name, for a role another
    account's policies name (else Pulumi's auto-name)."""
    iam_role = aws.iam.Role(
        f"{name}-{role}-role",
        name=role_name,
        description=f"{name}: IRSA role of {namespace}/{service_account}",
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_provider_url).apply(
            lambda a: json.dumps(irsa_trust_policy(a[0], a[1], namespace, service_account))
        ),
        opts=opts,
    )
    grant = aws.iam.RolePolicy(f"{name}-{role}-policy", role=iam_role.id, policy=policy, opts=opts)
    return iam_role, grant


def telemetry_store(
    component: pulumi.Resource,
    name: str,
    kind: str,
    role: str,
    *,
    account_id: str,
    region: str,
    kms_key_arn: pulumi.Input[str],
    expire_days: int,
    protection: ProtectionConfig,
    oidc_provider_arn: pulumi.Input[str],
    oidc_provider_url: pulumi.Input[str],
    service_account: str,
) -> tuple[PrivateBucket, aws.iam.Role, aws.iam.RolePolicy]:
    """A telemetry backend's store: the bucket `{name}-{kind}-bucket` (private_bucket, named
    by infra/telemetry.py bucket_name, objects expired after `expire_days`, protected as the
    stack protects data) and the IRSA role `{name}-{role}-role` of `monitoring/<service_account>`
    that reads, writes and deletes there through the key (bucket_access_policy)."""
    child = pulumi.ResourceOptions(parent=component)
    store = private_bucket(
        name, f"{kind}-bucket", bucket_name=telemetry.bucket_name(name, kind, account_id, region), kms_key_arn=kms_key_arn,
        expire_days=expire_days, opts=child, stateful=stateful_options(component, protection),
    )  # fmt: skip
    iam_role, grant = workload_identity(
        name,
        role,
        oidc_provider_arn=oidc_provider_arn,
        oidc_provider_url=oidc_provider_url,
        namespace=telemetry.NAMESPACE,
        service_account=service_account,
        policy=pulumi.Output.all(store.bucket.arn, kms_key_arn).apply(lambda a: json.dumps(bucket_access_policy(a[0], a[1]))),
        opts=child,
    )
    return store, iam_role, grant


# ---------------------------------------------------------------------- alarms and their topics

CLOUDWATCH = "cloudwatch.amazonaws.com"


def cloudwatch_alarms_key_statement(account: pulumi.Input[str]) -> dict[str, Any]:
    """The key-policy statement a KMS key needs to encrypt a topic CloudWatch alarms publish to.

    CloudWatch publishing an alarm to a KMS-encrypted SNS topic uses the topic's key as itself,
    so the key policy must allow cloudwatch.amazonaws.com Decrypt and GenerateDataKey* (SNS
    developer guide, "Key management": compatibility between event sources from AWS services
    and encrypted topics; with the AWS-managed aws/sns key, whose policy cannot change, the
    alarm's action fails: AWS re:Post knowledge center, "cloudwatch-configure-alarm-sns").
    Only for this account's alarms (confused-deputy guard)."""
    return {
        "Sid": "CloudWatchAlarmsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }


def alarm_topic_policy(topic_arn: pulumi.Input[str], region: str, account_id: str) -> pulumi.Output[str]:
    """Only this account's CloudWatch alarms in `region` publish (SNS developer guide, "Example
    cases for Amazon SNS access control"; aws:SourceArn as re:Post's "cloudwatch-receive-sns-
    for-alarm-trigger" shows), and nothing reaches the topic without TLS. The account's own
    principals manage it through their IAM policies, as for every topic."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudWatchAlarmsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": CLOUDWATCH},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:*"},
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


@dataclass(frozen=True)
class AlarmTopic:
    topic: aws.sns.Topic
    policy: aws.sns.TopicPolicy


def alarm_topic(name: str, *, kms_key_arn: pulumi.Input[str], region: str, account_id: str, opts: pulumi.ResourceOptions) -> AlarmTopic:
    """`name`: an SNS topic CloudWatch alarms of `region` publish to, KMS-encrypted with
    `kms_key_arn` (its policy needs `cloudwatch_alarms_key_statement`), and `{name}-policy`."""
    topic = aws.sns.Topic(name, kms_master_key_id=kms_key_arn, opts=opts)
    policy = aws.sns.TopicPolicy(f"{name}-policy", arn=topic.arn, policy=alarm_topic_policy(topic.arn, region, account_id), opts=opts)
    return AlarmTopic(topic, policy)


def subscribe_function(
    name: str, *, topic_arn: pulumi.Input[str], function_arn: pulumi.Input[str], topic_opts: pulumi.ResourceOptions, function_opts: pulumi.ResourceOptions
) -> aws.sns.TopicSubscription:
    """`{name}-permission`: the topic may invoke the function (created where the function is),
    and `{name}-subscription` (where the topic is: SNS delivers to a Lambda function in another
    region, SNS developer guide, "Fanout to Lambda functions"), after the permission."""
    permission = aws.lambda_.Permission(
        f"{name}-permission", action="lambda:InvokeFunction", function=function_arn, principal="sns.amazonaws.com", source_arn=topic_arn, opts=function_opts
    )
    return aws.sns.TopicSubscription(
        f"{name}-subscription",
        topic=topic_arn,
        protocol="lambda",
        endpoint=function_arn,
        opts=pulumi.ResourceOptions.merge(topic_opts, pulumi.ResourceOptions(depends_on=[permission])),
    )


def metric_alarm(
    name: str, logical: str, spec: Any, topic_arn: pulumi.Input[str], opts: pulumi.ResourceOptions, actions_enabled: bool = True
) -> aws.cloudwatch.MetricAlarm:
    """One alarm of infra/alarms.py (`spec`, an AlarmSpec), named `spec.name(name)`, notifying
    `topic_arn` on ALARM and OK (not on INSUFFICIENT_DATA: a metric that stops is no incident
    by itself, and the forwarder ignores it). `actions_enabled` False: the alarm keeps its
    state and history and notifies nobody."""
    from infra.alarms import insights_query

    common = dict(
        name=spec.name(name),
        alarm_description=spec.description,
        comparison_operator=spec.comparison_operator,
        threshold=spec.threshold,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.evaluation_periods,
        treat_missing_data=spec.treat_missing_data,
        actions_enabled=actions_enabled,
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
    )
    if spec.insights:
        # A Metrics Insights alarm is one metric query whose expression is the SQL, with its own
        # period; without GROUP BY it is one series (CloudWatch user guide, "Create a CloudWatch
        # alarm based on a Metrics Insights query").
        query = pulumi.Output.all(**spec.dimensions).apply(lambda values: insights_query(spec, values))
        return aws.cloudwatch.MetricAlarm(
            logical,
            metric_queries=[aws.cloudwatch.MetricAlarmMetricQueryArgs(id="q1", expression=query, period=spec.period, return_data=True, label=spec.metric_name)],
            **common,
            opts=opts,
        )
    return aws.cloudwatch.MetricAlarm(
        logical,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=dict(spec.dimensions),
        statistic=spec.statistic,
        period=spec.period,
        **common,
        opts=opts,
    )
