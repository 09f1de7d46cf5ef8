"""Who may do what in this environment: one IAM role per team, its EKS access, its database login.

Creates, per team in `platform:access.teams` (`<team>` in kebab case: `break-glass`):
- `{name}-team-<team>`: the IAM role `platform-<env>-<team>`, assumable only by the team's
  principal (`team_trust_policy`: an IAM Identity Center permission set's roles by
  `aws:PrincipalArn`, one role exactly, or the account's users with MFA), sessions of
  `max_session_hours`;
- `{name}-team-<team>-aws`: AWS's job-function policy for the team's `aws` grant
  (ViewOnlyAccess, PowerUserAccess or AdministratorAccess);
- `{name}-team-<team>-access`: `eks:DescribeCluster` on this cluster (what `aws eks
  update-kubeconfig` calls) and, with a `database` grant, `rds-db:connect` as that grant's
  PostgreSQL login on every instance of the environment (the primary and its replicas);
- with a `cluster` grant, `{name}-team-<team>-entry` (EKS access entry, STANDARD, no
  Kubernetes groups, tagged `platform/access: <team>`) and `{name}-team-<team>-<policy>` (the
  access policy association: view, edit or admin on the grant's namespaces, cluster-admin on
  the whole cluster);
- for CI's roles when set (`access.ci_deploy_role_arn`, `.ci_preview_role_arn`):
  `{name}-ci-deploy-entry` / `-policy` (cluster-admin) and `{name}-ci-preview-entry` /
  `-policy` (AmazonEKSAdminViewPolicy on the cluster).

The entries name the role by its ARN, written from the account id and the role's name so a
preview of a new environment shows whose entry each is; they wait for the role. Nobody gets `system:masters`
and there is no aws-auth ConfigMap (authentication mode API).

Outputs: role_arns (team -> role ARN).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import dbroles
from infra.config import AccessConfig, TeamAccess, principal_kind

# AWS's job-function managed policies, per TeamAccess.aws.
AWS_POLICIES = {
    "view_only": "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
    "power_user": "arn:aws:iam::aws:policy/PowerUserAccess",
    "administrator": "arn:aws:iam::aws:policy/AdministratorAccess",
}
# EKS access policies, per TeamAccess.cluster (EKS user guide, access-policy-reference.adoc).
EKS_POLICY = "arn:aws:eks::aws:cluster-access-policy/{}"
CLUSTER_POLICIES = {
    "view": "AmazonEKSViewPolicy",
    "edit": "AmazonEKSEditPolicy",
    "admin": "AmazonEKSAdminPolicy",
    "cluster_admin": "AmazonEKSClusterAdminPolicy",
}
# Which team (or CI role) an access entry is for: what the policy rule
# eks-cluster-admin-teams reads (policy/rules.py ACCESS_TAG; the pack imports nothing of infra).
ACCESS_TAG = "platform/access"
# The PostgreSQL login each database grant authenticates as, with an IAM token.
DATABASE_USERS = {"read_only": dbroles.READ_ONLY_ROLE, "read_write": dbroles.READ_WRITE_ROLE}


def team_role(team: str) -> str:
    """A team's kebab-case role in logical and IAM names: break_glass -> break-glass."""
    return team.replace("_", "-")


def team_role_name(name: str, team: str) -> str:
    return f"{name}-{team_role(team)}"


def team_trust_policy(principal: str) -> dict[str, Any]:
    """Who may assume a team's role: see infra.config.principal_kind."""
    kind = principal_kind(principal)
    account = principal.split(":")[4]
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole"}
    if kind == "sso":
        # Identity Center makes one role per permission set and account, with a random
        # suffix; the pattern matches it. Identity Center enforces MFA at sign-in, and its
        # sessions carry no aws:MultiFactorAuthPresent, so an MFA condition would lock them out.
        statement["Principal"] = {"AWS": f"arn:aws:iam::{account}:root"}
        statement["Condition"] = {"ArnLike": {"aws:PrincipalArn": principal}}
    elif kind == "role":
        statement["Principal"] = {"AWS": principal}
    else:
        # The account's IAM users, only in a session signed in with MFA.
        statement["Principal"] = {"AWS": principal}
        statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def access_scope(grant: TeamAccess) -> dict[str, Any]:
    """The access policy's scope: the whole cluster for cluster_admin, else the namespaces."""
    if grant.cluster == "cluster_admin":
        return {"type": "cluster"}
    return {"type": "namespace", "namespaces": list(grant.namespaces)}


def team_permissions(grant: TeamAccess, cluster_arn: str, db_resource_ids: Sequence[str], region: str, account_id: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [{"Sid": "Kubeconfig", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn}]
    user = DATABASE_USERS.get(grant.database)
    if user is not None:
        statements.append(
            {
                "Sid": "DatabaseLogin",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                # RDS IAM authentication names the instance by its resource id (db-...), never its identifier.
                "Resource": [f"arn:aws:rds-db:{region}:{account_id}:dbuser:{rid}/{user}" for rid in db_resource_ids],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class AccessArgs:
    config: AccessConfig
    account_id: str
    region: str
    # The cluster's name as an Output of the cluster (Cluster.api_cluster_name).
    cluster_name: pulumi.Input[str]
    # Every PostgreSQL instance's resource id (primary first): what rds-db:connect names.
    db_resource_ids: pulumi.Input[Sequence[str]]


class Access(pulumi.ComponentResource):
    role_arns: Mapping[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:Access", name, None, opts)
        # validate: config load checked principals, namespaces and the production rules.
        # derive
        child = pulumi.ResourceOptions(parent=self)
        cluster_arn = pulumi.Output.from_input(args.cluster_name).apply(lambda c: f"arn:aws:eks:{args.region}:{args.account_id}:cluster/{c}")

        # children
        role_arns: dict[str, pulumi.Output[str]] = {}
        for team, grant in args.config.teams.items():
            prefix = f"{name}-team-{team_role(team)}"
            role_name = team_role_name(name, team)
            role = aws.iam.Role(
                prefix,
                name=role_name,
                description=f"{name}: the {team} team ({grant.cluster} in the cluster, {grant.database} in the database, {grant.aws} in AWS)",
                assume_role_policy=pulumi.Output.json_dumps(team_trust_policy(grant.principal)),
                max_session_duration=grant.max_session_hours * 3600,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{prefix}-aws", role=role.name, policy_arn=AWS_POLICIES[grant.aws], opts=child)
            aws.iam.RolePolicy(
                f"{prefix}-access",
                role=role.name,
                policy=pulumi.Output.all(cluster_arn, args.db_resource_ids).apply(
                    lambda a, grant=grant: json.dumps(team_permissions(grant, a[0], a[1], args.region, args.account_id))
                ),
                opts=child,
            )
            role_arns[team] = role.arn
            if grant.cluster == "none":
                continue
            # Written, not read from the role: known in a preview, so the review sees whose entry it is.
            principal_arn = f"arn:aws:iam::{args.account_id}:role/{role_name}"
            waits_for_role = pulumi.ResourceOptions(parent=self, depends_on=[role])
            entry = aws.eks.AccessEntry(
                f"{prefix}-entry",
                cluster_name=args.cluster_name,
                principal_arn=principal_arn,
                type="STANDARD",
                # Whose entry this is, for the policy rule eks-cluster-admin-teams.
                tags={ACCESS_TAG: team},
                opts=waits_for_role,
            )
            scope = access_scope(grant)
            aws.eks.AccessPolicyAssociation(
                f"{prefix}-{team_role(grant.cluster)}",
                cluster_name=args.cluster_name,
                principal_arn=principal_arn,
                policy_arn=EKS_POLICY.format(CLUSTER_POLICIES[grant.cluster]),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(**scope),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            )

        # CI's own roles (docs/ci.md): the deploy role administers, the preview role reads.
        for role, arn, policy in (("ci-deploy", args.config.ci_deploy_role_arn, "AmazonEKSClusterAdminPolicy"), ("ci-preview", args.config.ci_preview_role_arn, "AmazonEKSAdminViewPolicy")):
            if arn is None:
                continue
            entry = aws.eks.AccessEntry(f"{name}-{role}-entry", cluster_name=args.cluster_name, principal_arn=arn, type="STANDARD", tags={ACCESS_TAG: role}, opts=child)
            aws.eks.AccessPolicyAssociation(
                f"{name}-{role}-policy",
                cluster_name=args.cluster_name,
                principal_arn=arn,
                policy_arn=EKS_POLICY.format(policy),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            )

        # outputs
        self.role_arns = role_arns
        self.register_outputs({"role_arns": role_arns})
