"""The account's audit trail and Session Manager's session logging.

Both exist once per AWS account and region, so only the stack that owns the account's audit
builds this component (`platform:account.audit_owner`, StackConfig.owns_audit): staging for
the non-production account it shares with dev, prod for its own. The other stacks' nodes
still log their sessions here (their node role's policy names the owner's log group and key
alias, infra/components/cluster.py), because the session preferences are the account's.

Creates:
- `{name}-trail-bucket`: the trail's S3 bucket `<name>-cloudtrail-<account>-<region>`, with
  S3 Object Lock enabled when `audit.object_lock_days > 0`. Protected and retained as the
  stack's protection says; deleted before it is replaced (a fixed name), and never emptied by
  Pulumi (no force_destroy): a bucket holding log files refuses the delete;
- `{name}-trail-bucket-ownership` (BucketOwnerEnforced: ACLs off), `-public-access` (all four
  blocks), `-versioning`, `-encryption` (SSE-KMS with the stack's CMK and an S3 Bucket Key),
  `-lifecycle` (current and noncurrent versions expire after `audit.trail_retention_days`,
  expired delete markers are removed), `-object-lock` (default retention COMPLIANCE for
  `audit.object_lock_days`, only when that is above 0) and `-policy` (TLS only, and the two
  statements CloudTrail needs, conditioned on this trail's ARN and this account);
- `{name}-trail`: the trail `<name>-trail`: every region, global service events, log file
  validation, KMS-encrypted with the stack's CMK, management events read and write (no data
  events). It waits for the bucket policy: CreateTrail checks it and fails with
  InsufficientS3BucketPolicyException before it exists;
- `{name}-session-logs`: the `/platform/<owner>/session-manager` log group (the name is the
  owner stack's, so every stack of the account can name it: `session_log_group_name`), KMS-
  encrypted, kept `audit.session_log_retention_days`;
- `{name}-session-preferences`: Session Manager's preferences, the `Session` document that
  must be named `SSM-SessionManagerRunShell`: sessions stream to that log group, encrypted;
  session data is encrypted with the CMK (`kmsKeyId`); no Run As; idle sessions end after
  20 minutes.

Importing the preferences document. AWS creates `SSM-SessionManagerRunShell` the first time
someone opens Session Manager's Preferences in the console (or runs its quick setup); then
CreateDocument fails with "DocumentAlreadyExists: Document with same name
SSM-SessionManagerRunShell already exists" (tmknom/terraform-aws-session-manager#34,
gazoakley/terraform-aws-session-manager-settings#1). Adopt it before the first `pulumi up`:

    pulumi import aws:ssm/document:Document platform-<owner>-session-preferences SSM-SessionManagerRunShell \\
        --parent 'urn:pulumi:<owner>::platform::platform:audit:Audit::platform-<owner>' --stack <owner>

and the next `pulumi up` writes this program's content into it (or delete it first:
`aws ssm delete-document --name SSM-SessionManagerRunShell`, which loses nothing this
program does not set again).

Outputs: trail_arn, bucket_name, session_log_group_name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components._shared import private_bucket
from infra.config import PROJECT, AuditConfig, ProtectionConfig, StackConfig, audit_bucket_name

CLOUDTRAIL = "cloudtrail.amazonaws.com"
# The name Session Manager reads its account-wide preferences from (Systems Manager user
# guide, "Create a Session Manager preferences document (command line)").
SESSION_PREFERENCES_DOCUMENT = "SSM-SessionManagerRunShell"
# Session Manager's own default for idle sessions (1 to 60 minutes).
IDLE_SESSION_TIMEOUT_MINUTES = 20


def owner_name(cfg: StackConfig) -> str:
    """`platform-<owner>`: the component name in the stack that owns the account's audit."""
    return f"{PROJECT}-{cfg.account.audit_owner or cfg.environment}"


def trail_name(name: str) -> str:
    return f"{name}-trail"


def trail_arn(name: str, region: str, account_id: str) -> str:
    """The trail's ARN, known before it exists: the bucket policy and the key policy name it."""
    return f"arn:aws:cloudtrail:{region}:{account_id}:trail/{trail_name(name)}"


def bucket_name(name: str, region: str, account_id: str) -> str:
    # Config load holds its length to S3's limit (infra.config.audit_bucket_name).
    return audit_bucket_name(name, region, account_id)


def session_log_group_name(cfg: StackConfig) -> str:
    """The account's session log group, named by the owner stack, so a stack that does not
    own the audit (dev) can still give its nodes access to it."""
    return f"/{PROJECT}/{cfg.account.audit_owner or cfg.environment}/session-manager"


def session_log_group_arn(cfg: StackConfig) -> str:
    return f"arn:aws:logs:{cfg.aws.region}:{cfg.account.id}:log-group:{session_log_group_name(cfg)}"


def session_key_alias(cfg: StackConfig) -> str:
    """The alias of the key that encrypts the sessions: the owner's (infra/components/keys.py
    names every key `alias/<name>`)."""
    return f"alias/{owner_name(cfg)}"


@dataclass(frozen=True)
class AuditArgs:
    config: AuditConfig
    # The account and region the trail and the bucket belong to (platform:account.id, aws:region).
    account_id: str
    region: str
    # The stack's CMK: trail log files, the bucket's default encryption, the session log group
    # and session data. Its policy must let CloudTrail use it (KeysArgs.cloudtrail_trail_arn).
    kms_key_arn: pulumi.Input[str]
    # `/platform/<owner>/session-manager` (session_log_group_name).
    session_log_group_name: str
    # protect / retain_on_delete of the bucket, the trail and the session log group.
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)
    idle_session_timeout_minutes: int = IDLE_SESSION_TIMEOUT_MINUTES


class Audit(pulumi.ComponentResource):
    trail_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    session_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:audit:Audit", name, None, opts)
        # validate: the section is validated when the config loads (lock within retention).
        cfg = args.config
        if not 1 <= args.idle_session_timeout_minutes <= 60:
            raise ValueError("idle_session_timeout_minutes must be between 1 and 60 (Session Manager's range)")

        # derive
        the_trail_arn = trail_arn(name, args.region, args.account_id)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protection.protect, retain_on_delete=args.protection.retain_on_delete)
        # Only this account's CloudTrail, for this trail (confused-deputy guard: CloudTrail user
        # guide, "Amazon S3 bucket policy for CloudTrail", aws:SourceArn as a best practice).
        from_this_trail = {"aws:SourceArn": the_trail_arn, "aws:SourceAccount": args.account_id}

        # children: the bucket and its configuration
        locked = cfg.object_lock_days > 0
        store = private_bucket(
            name,
            "trail-bucket",
            bucket_name=bucket_name(name, args.region, args.account_id),
            kms_key_arn=args.kms_key_arn,
            # Noncurrent versions exist only once a log file expired or was deleted (CloudTrail
            # never overwrites one): kept as long again.
            expire_days=cfg.trail_retention_days,
            noncurrent_days=cfg.trail_retention_days,
            expire_rule_id="expire-log-files",
            abort_incomplete_uploads=False,
            # Object Lock needs versioning, which S3 turns on with it. Enabling it on the existing
            # bucket is an in-place update; turning it off replaces the bucket (force_new.json).
            object_lock=locked,
            policy_statements=lambda bucket: [
                {
                    "Sid": "AWSCloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": CLOUDTRAIL},
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket.arn,
                    "Condition": {"StringEquals": from_this_trail},
                },
                {
                    "Sid": "AWSCloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": CLOUDTRAIL},
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(bucket.arn, f"/AWSLogs/{args.account_id}/*"),
                    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **from_this_trail}},
                },
            ],
            opts=child,
            stateful=stateful,
        )
        bucket, policy = store.bucket, store.policy
        if locked:
            # COMPLIANCE: no one, the root user included, deletes or overwrites a version
            # before its retention ends (S3 user guide, "Object Lock retention modes").
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-trail-bucket-object-lock",
                bucket=bucket.id,
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(mode="COMPLIANCE", days=cfg.object_lock_days)
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[store.versioning]),
            )

        # children: the trail
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name(name),
            s3_bucket_name=bucket.id,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=args.kms_key_arn,
            # Management events, read and write; no data events (each of those is billed).
            event_selectors=[aws.cloudtrail.TrailEventSelectorArgs(read_write_type="All", include_management_events=True)],
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[policy])),
        )

        # children: Session Manager's session logging
        session_logs = aws.cloudwatch.LogGroup(
            f"{name}-session-logs",
            name=args.session_log_group_name,
            retention_in_days=cfg.session_log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=stateful,
        )
        aws.ssm.Document(
            f"{name}-session-preferences",
            name=SESSION_PREFERENCES_DOCUMENT,
            document_type="Session",
            document_format="JSON",
            content=pulumi.Output.json_dumps(
                {
                    "schemaVersion": "1.0",
                    "description": "Session Manager preferences of the account (platform, infra/components/audit.py)",
                    "sessionType": "Standard_Stream",
                    "inputs": {
                        "s3BucketName": "",
                        "s3KeyPrefix": "",
                        "s3EncryptionEnabled": True,
                        "cloudWatchLogGroupName": session_logs.name,
                        # Sessions start only if the log group is encrypted (the agent checks).
                        "cloudWatchEncryptionEnabled": True,
                        # Streamed as it happens, so a session cut short is still logged.
                        "cloudWatchStreamingEnabled": True,
                        "kmsKeyId": args.kms_key_arn,
                        "runAsEnabled": False,
                        "runAsDefaultUser": "",
                        "idleSessionTimeout": str(args.idle_session_timeout_minutes),
                        "maxSessionDuration": "",
                        "shellProfile": {"linux": "", "windows": ""},
                    },
                }
            ),
            opts=child,
        )

        # outputs
        self.trail_arn = trail.arn
        self.bucket_name = bucket.id
        self.session_log_group_name = session_logs.name
        self.register_outputs({"trail_arn": self.trail_arn, "bucket_name": self.bucket_name, "session_log_group_name": self.session_log_group_name})
