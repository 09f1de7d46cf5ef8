"""The environment's customer-managed KMS key.

Creates:
- `{name}-key`: a symmetric CMK with yearly rotation and a 30-day deletion window, whose
  policy lets the account's IAM policies govern it (RDS, ElastiCache, EKS, Secrets Manager
  use it through the caller's permissions) and lets CloudWatch Logs encrypt this account's
  log groups (the session log group among them). With `cloudtrail_trail_arn` (the stack owns
  the account's audit, infra/components/audit.py) it also lets CloudTrail encrypt that trail's
  log files. It lets this account's CloudWatch alarms publish to the SNS topic it encrypts
  (infra/components/alerting.py). It names no service-linked role: CreateKey refuses a
  principal that does not exist yet, and a fresh account has no AWSServiceRoleForAutoScaling. It outlives the stack
  whenever the data stores leave snapshots or backups encrypted with it
  (ProtectionConfig.key_outlives_stack);
- `{name}-alias`: `alias/<name>`, so people can find it (deleted with the stack, so a rebuilt
  stack can take the name again; a retained key keeps its description and tags);
- `{name}-autoscaling-role`, if `account.create_autoscaling_service_linked_role`: the
  account's AWSServiceRoleForAutoScaling (retained on delete: it is the account's, not the
  stack's);
- `{name}-autoscaling-grant`: a KMS grant letting that role use the key for the nodes' EBS
  volumes (without it, encrypted node volumes fail to launch). A grant instead of key-policy
  statements: the EC2 Auto Scaling user guide ("Required AWS KMS key policy for use with
  encrypted volumes") gives both forms, and a grant is created after its grantee exists.
  The node groups wait for it (`node_launch_dependencies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components._shared import cloudwatch_alarms_key_statement
from infra.config import ProtectionConfig

AUTOSCALING_SERVICE = "autoscaling.amazonaws.com"
# The role EC2 Auto Scaling (and so every EKS managed node group) launches instances with.
AUTOSCALING_ROLE_PATH = "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
# What the grant allows: the operations of the user guide's grant for a customer managed key
# ("Required AWS KMS key policy for use with encrypted volumes", cross-account example).
AUTOSCALING_GRANT_OPERATIONS = (
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant",
)


@dataclass(frozen=True)
class KeysArgs:
    region: str
    # Pulumi protect as the stack's protection says; retain derived from it
    # (key_outlives_stack): losing the key loses every snapshot and secret encrypted with it.
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)
    # account.create_autoscaling_service_linked_role: whether this stack creates the role.
    create_autoscaling_service_linked_role: bool = True
    # The KMS maximum: a scheduled deletion can be cancelled for 30 days (FSBP KMS.3).
    deletion_window_days: int = 30
    # The account trail this key encrypts (infra/components/audit.py), where the stack owns the
    # account's audit; None: CloudTrail gets nothing.
    cloudtrail_trail_arn: str | None = None


def cloudtrail_statements(trail_arn: str) -> list[dict]:
    """What CloudTrail needs on the trail's key, and no more (CloudTrail user guide, "Configure
    AWS KMS key policies for CloudTrail"): GenerateDataKey* for this account's trails' log files
    (the encryption context names the trail), DescribeKey, and Decrypt, which CreateTrail and
    UpdateTrail need when the bucket uses an S3 Bucket Key ("Granting decrypt permissions").
    Each only for this trail (aws:SourceArn, the guide's security best practice). People read
    the logs through their IAM policies (AccountIamPoliciesGovernTheKey), not a Principal "*"
    statement as the console's default policy has."""
    account = trail_arn.split(":")[4]
    this_trail = {"StringEquals": {"aws:SourceArn": trail_arn}}
    service = {"Service": "cloudtrail.amazonaws.com"}
    return [
        {
            "Sid": "CloudTrailEncryptsThisTrail",
            "Effect": "Allow",
            "Principal": service,
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {**this_trail, "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"}},
        },
        {"Sid": "CloudTrailDescribesTheKey", "Effect": "Allow", "Principal": service, "Action": "kms:DescribeKey", "Resource": "*", "Condition": this_trail},
        {"Sid": "CloudTrailDecryptsForTheBucketKey", "Effect": "Allow", "Principal": service, "Action": "kms:Decrypt", "Resource": "*", "Condition": this_trail},
    ]


class Keys(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    # What a node must not launch before (ClusterArgs.node_launch_dependencies).
    node_launch_dependencies: list[pulumi.Resource]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:keys:Keys", name, None, opts)
        if not 7 <= args.deletion_window_days <= 30:
            raise ValueError("deletion_window_days must be between 7 and 30")

        # derive
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        policy = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountIamPoliciesGovernTheKey",
                        "Effect": "Allow",
                        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchLogsOfThisAccount",
                        "Effect": "Allow",
                        "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                        "Resource": "*",
                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": pulumi.Output.concat("arn:aws:logs:", args.region, ":", account, ":*")}},
                    },
                    # Session Manager needs no statement of its own: nodes decrypt session data and
                    # people start sessions through their IAM policies (the first statement).
                    *(cloudtrail_statements(args.cloudtrail_trail_arn) if args.cloudtrail_trail_arn else []),
                    # The alert topic's encryption (infra/components/alerting.py): in every
                    # stack, so turning alerts on or off never rewrites the key policy.
                    cloudwatch_alarms_key_statement(account),
                ],
            }
        )
        # Retained whenever a deletion leaves encrypted data behind; not configurable, so no
        # stack can keep final snapshots and schedule their key's deletion (see
        # ProtectionConfig.key_outlives_stack).
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protection.protect, retain_on_delete=args.protection.key_outlives_stack)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: RDS, ElastiCache, EKS secrets, Secrets Manager, EBS and CloudWatch Logs",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy,
            opts=stateful,
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))

        # Auto Scaling's access for the nodes' encrypted volumes. KMS checks that a grantee
        # exists (CreateGrant), so the grant waits for the role when this stack creates it;
        # otherwise the account has it (AccountConfig). The role is the account's: retained,
        # so destroying this stack never deletes what other stacks' nodes launch with.
        role_arn = pulumi.Output.concat("arn:aws:iam::", account, ":", AUTOSCALING_ROLE_PATH)
        grantee_exists: list[pulumi.Resource] = []
        if args.create_autoscaling_service_linked_role:
            grantee_exists.append(
                aws.iam.ServiceLinkedRole(
                    f"{name}-autoscaling-role",
                    aws_service_name=AUTOSCALING_SERVICE,
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            )
        grant = aws.kms.Grant(
            f"{name}-autoscaling-grant",
            name=f"{name}-node-volumes",
            key_id=key.key_id,
            grantee_principal=role_arn,
            operations=list(AUTOSCALING_GRANT_OPERATIONS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=grantee_exists),
        )

        # outputs
        self.key_arn = key.arn
        self.key_id = key.key_id
        self.node_launch_dependencies = [grant]
        self.register_outputs({"key_arn": self.key_arn, "key_id": self.key_id})
