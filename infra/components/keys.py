"""The environment's customer-managed KMS key.

Creates:
- `{name}-key`: a symmetric CMK with yearly rotation and a 30-day deletion window, whose
  policy lets the account's IAM policies govern it (RDS, ElastiCache, EKS, Secrets Manager
  use it through the caller's permissions), lets CloudWatch Logs encrypt this account's log
  groups, and lets the Auto Scaling service-linked role use it for the nodes' EBS volumes
  (without that grant, encrypted node volumes fail to launch);
- `{name}-alias`: `alias/<name>`, so people can find it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class KeysArgs:
    region: str
    # Pulumi protect + retain: losing the key loses every snapshot and secret encrypted with it.
    protect: bool = True
    retain_on_delete: bool = True
    # The KMS maximum: a scheduled deletion can be cancelled for 30 days (FSBP KMS.3).
    deletion_window_days: int = 30


class Keys(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:keys:Keys", name, None, opts)
        if not 7 <= args.deletion_window_days <= 30:
            raise ValueError("deletion_window_days must be between 7 and 30")

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
                    {
                        "Sid": "AutoScalingUsesKeyForNodeVolumes",
                        "Effect": "Allow",
                        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")},
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                        "Resource": "*",
                    },
                    {
                        "Sid": "AutoScalingAttachesPersistentResources",
                        "Effect": "Allow",
                        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")},
                        "Action": "kms:CreateGrant",
                        "Resource": "*",
                        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                    },
                ],
            }
        )
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.retain_on_delete)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: RDS, ElastiCache, EKS secrets, Secrets Manager, EBS and CloudWatch Logs",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy,
            opts=stateful,
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))

        self.key_arn = key.arn
        self.key_id = key.key_id
        self.register_outputs({"key_arn": self.key_arn, "key_id": self.key_id})
