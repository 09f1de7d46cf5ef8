"""Who may do what, per stack (infra/components/access.py, platform:access in the stack files).

Specified here:
- the access matrix of each committed stack, as exact EKS access entries and access policies:
  dev, developers admin on `app` and `dev-*`; staging, developers and QA edit on `app`;
  prod, developers view; devops and break-glass cluster-admin everywhere; on-call edit;
- each team's role: named `platform-<env>-<team>`, assumable only by its principal (an IAM
  Identity Center pattern by aws:PrincipalArn, one role exactly, or the account's users
  with MFA), AWS's job-function policy for its grant, eks:DescribeCluster on this cluster
  and rds-db:connect as its PostgreSQL login on every instance (replicas included);
- the policy rule `eks-cluster-admin-teams`: the committed plans pass, a plan that gives
  anyone else cluster-scope admin (or system:masters) fails in production;
- CI's roles, when set: the deploy role cluster-admin, the preview role AmazonEKSAdminViewPolicy;
- the bad config: an unknown team, a principal that is not an ARN, write access for
  developers in production, cluster-admin for on-call in production, a namespace the stack
  does not have, production without break-glass;
- the account: the AWS provider refuses any account but platform:account.id (the mocks
  refuse like the provider), and the stacks of one account agree on who owns its audit
  and its Auto Scaling role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import config
from infra.config import ConfigError
from infra.offline.harness import run_program
from infra.review.check import resources_from_plan
from policy import rules
from tests.conftest import STACKS, account, plan, stack_config

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
INSTANCE = "aws:rds/instance:Instance"
POLICY = "arn:aws:eks::aws:cluster-access-policy/{}"

# stack -> team -> (EKS access policy, its scope) ; None: no access entry.
MATRIX: dict[str, dict[str, tuple[str, dict[str, Any]] | None]] = {
    "dev": {
        "developers": ("AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": ["app", "dev-*"]}),
        "qa": ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "devops": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        "break-glass": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
    },
    "staging": {
        "developers": ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "qa": ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "devops": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        "oncall": ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "break-glass": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
    },
    "prod": {
        "developers": ("AmazonEKSViewPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "devops": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        "oncall": ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["app"]}),
        "break-glass": ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
    },
}
# stack -> team -> (AWS managed policy, PostgreSQL login or None, max session hours)
GRANTS = {
    "dev": {
        "developers": ("PowerUserAccess", "team_read_write", 1),
        "qa": ("job-function/ViewOnlyAccess", "team_read_only", 1),
        "devops": ("AdministratorAccess", "team_read_write", 1),
        "break-glass": ("AdministratorAccess", None, 1),
    },
    "staging": {
        "developers": ("job-function/ViewOnlyAccess", "team_read_only", 1),
        "qa": ("job-function/ViewOnlyAccess", "team_read_only", 1),
        "devops": ("AdministratorAccess", "team_read_write", 1),
        "oncall": ("PowerUserAccess", "team_read_only", 1),
        "break-glass": ("AdministratorAccess", None, 1),
    },
    "prod": {
        "developers": ("job-function/ViewOnlyAccess", "team_read_only", 1),
        "devops": ("AdministratorAccess", "team_read_write", 1),
        "oncall": ("PowerUserAccess", "team_read_only", 1),
        "break-glass": ("AdministratorAccess", None, 1),
    },
}


def role_arn(stack: str, team: str) -> str:
    return f"arn:aws:iam::{account(stack)}:role/platform-{stack}-{team}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_access_matrix_is_the_seeds(stack):
    p = plan(stack)
    entries = {e["inputs"]["principalArn"]: e["inputs"] for e in p.of_type(ENTRY)}
    associations = {a["inputs"]["principalArn"]: a["inputs"] for a in p.of_type(ASSOCIATION)}
    expected = {team: grant for team, grant in MATRIX[stack].items() if grant is not None}
    assert set(entries) == set(associations) == {role_arn(stack, team) for team in expected}
    for team, (policy, scope) in expected.items():
        arn = role_arn(stack, team)
        team_key = team.replace("-", "_")
        assert entries[arn] == {"clusterName": f"platform-{stack}", "principalArn": arn, "type": "STANDARD", "tags": {"platform/access": team_key}}
        assert associations[arn] == {"clusterName": f"platform-{stack}", "principalArn": arn, "policyArn": POLICY.format(policy), "accessScope": scope}
        entry = p.named(ENTRY, f"::platform-{stack}-team-{team}-entry")
        association = [a for a in p.of_type(ASSOCIATION) if a["inputs"]["principalArn"] == arn][0]
        # The role first, then its entry, then the entry's policy.
        assert p.named(ROLE, f"::platform-{stack}-team-{team}")["urn"] in entry["dependencies"]
        assert entry["urn"] in association["dependencies"]


def test_developers_are_read_only_in_prod():
    p = plan("prod")
    developers = [a["inputs"] for a in p.of_type(ASSOCIATION) if a["inputs"]["principalArn"] == role_arn("prod", "developers")]
    assert [a["policyArn"] for a in developers] == [POLICY.format("AmazonEKSViewPolicy")]
    policy = json.loads(p.named(ROLE_POLICY, "::platform-prod-team-developers-access")["inputs"]["policy"])
    (login,) = [s for s in policy["Statement"] if s["Sid"] == "DatabaseLogin"]
    assert all(r.endswith("/team_read_only") for r in login["Resource"])
    assert p.named(ATTACHMENT, "::platform-prod-team-developers-aws")["inputs"]["policyArn"] == "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"


@pytest.mark.parametrize("stack", STACKS)
def test_each_team_role_has_its_grants_only(stack):
    p = plan(stack)
    region = stack_config(stack)["aws:region"]
    resource_ids = [db["outputs"]["resourceId"] for db in p.of_type(INSTANCE)]
    assert len(resource_ids) == (2 if stack == "prod" else 1)
    for team, (managed, login, hours) in GRANTS[stack].items():
        role = p.named(ROLE, f"::platform-{stack}-team-{team}")["inputs"]
        assert (role["name"], role["maxSessionDuration"]) == (f"platform-{stack}-{team}", hours * 3600)
        assert p.named(ATTACHMENT, f"::platform-{stack}-team-{team}-aws")["inputs"]["policyArn"] == f"arn:aws:iam::aws:policy/{managed}"
        statements = json.loads(p.named(ROLE_POLICY, f"::platform-{stack}-team-{team}-access")["inputs"]["policy"])["Statement"]
        expected = [{"Sid": "Kubeconfig", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": f"arn:aws:eks:{region}:{account(stack)}:cluster/platform-{stack}"}]
        if login is not None:
            expected.append(
                {
                    "Sid": "DatabaseLogin",
                    "Effect": "Allow",
                    "Action": "rds-db:connect",
                    "Resource": [f"arn:aws:rds-db:{region}:{account(stack)}:dbuser:{rid}/{login}" for rid in resource_ids],
                }
            )
        assert statements == expected
    assert len([r for r in p.of_type(ROLE) if "platform:access:Access$" in r["urn"]]) == len(GRANTS[stack])


SSO = "arn:aws:iam::210987654321:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developers_*"


@pytest.mark.parametrize(
    "principal, statement",
    [
        # IAM Identity Center: the permission set's roles, matched by pattern; MFA is Identity Center's.
        (SSO, {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Condition": {"ArnLike": {"aws:PrincipalArn": SSO}}}),
        ("arn:aws:iam::210987654321:role/platform-break-glass", {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::210987654321:role/platform-break-glass"}}),
        (
            "arn:aws:iam::333333333333:root",
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        ),
    ],
)
def test_trust_policy_per_kind_of_principal(principal, statement):
    from infra.components.access import team_trust_policy

    assert team_trust_policy(principal) == {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.parametrize("stack", STACKS)
def test_committed_roles_trust_the_committed_principals(stack):
    p = plan(stack)
    teams = stack_config(stack)["platform:access"]["teams"]
    for team, grant in teams.items():
        trust = json.loads(p.named(ROLE, f"::platform-{stack}-team-{team.replace('_', '-')}")["inputs"]["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert grant["principal"] in (statement["Principal"]["AWS"], statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn"))
    assert p.outputs["team_role_arns"] == {team: p.named(ROLE, f"::platform-{stack}-team-{team.replace('_', '-')}")["outputs"]["arn"] for team in teams}


# ---------------------------------------------------------------------------- the policy rule


def findings(resources: list[rules.Resource]) -> list[tuple[str, str]]:
    return rules.RULES_BY_ID["eks-cluster-admin-teams"].findings(resources, rules.PRODUCTION)


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_plans_pass_the_cluster_admin_rule(stack):
    assert findings(resources_from_plan(plan(stack).data)) == []


def _with(resources: list[rules.Resource], token: str, suffix: str, **inputs: Any) -> list[rules.Resource]:
    out = []
    for r in resources:
        if r.type == token and r.urn.endswith(suffix):
            r = rules.Resource(**{**r.__dict__, "inputs": {**r.inputs, **inputs}})
        out.append(r)
    return out


ADMIN_WITHOUT_TAG = (
    "{principal} holds cluster-scope admin without an access entry tagged platform/access = devops, break_glass, ci-deploy ({team}); "
    "give it view, edit or admin on namespaces"
)


@pytest.mark.parametrize(
    "token, suffix, inputs, message",
    [
        (
            ASSOCIATION,
            "platform-prod-team-developers-view",
            {"policyArn": POLICY.format("AmazonEKSClusterAdminPolicy"), "accessScope": {"type": "cluster"}},
            ADMIN_WITHOUT_TAG.format(principal="arn:aws:iam::123456789012:role/platform-prod-developers", team="developers"),
        ),
        (
            ASSOCIATION,
            "platform-prod-team-oncall-edit",
            {"policyArn": POLICY.format("AmazonEKSAdminPolicy"), "accessScope": {"type": "cluster"}},
            ADMIN_WITHOUT_TAG.format(principal="arn:aws:iam::123456789012:role/platform-prod-oncall", team="oncall"),
        ),
        (ASSOCIATION, "platform-prod-team-devops-cluster-admin", {"principalArn": rules.UNKNOWN}, ADMIN_WITHOUT_TAG.format(principal="an unknown principal", team="untagged")),
        (
            ENTRY,
            "platform-prod-team-devops-entry",
            {"tags": {"platform/access": "developers"}},
            ADMIN_WITHOUT_TAG.format(principal="arn:aws:iam::123456789012:role/platform-prod-devops", team="developers"),
        ),
        (ENTRY, "platform-prod-team-oncall-entry", {"kubernetesGroups": ["system:masters"]}, "remove system:masters from kubernetesGroups: it is cluster-admin outside every access policy"),
    ],
)
def test_a_plan_granting_anyone_else_cluster_admin_fails(token, suffix, inputs, message):
    resources = _with(resources_from_plan(plan("prod").data), token, suffix, **inputs)
    assert [m for _, m in findings(resources)] == [message]
    rule = rules.RULES_BY_ID["eks-cluster-admin-teams"]
    assert (rule.level("production"), rule.level("staging"), rule.level("development")) == ("mandatory", "advisory", "advisory")


DEPLOY = "arn:aws:iam::123456789012:role/platform-deploy-prod"
PREVIEW = "arn:aws:iam::123456789012:role/platform-preview-prod"


def test_ci_roles_get_their_entries_and_pass_the_rule():
    access = {**stack_config("prod")["platform:access"], "ci_deploy_role_arn": DEPLOY, "ci_preview_role_arn": PREVIEW}
    p = plan("prod", **{"platform:access": access})
    for role, arn, policy in (("ci-deploy", DEPLOY, "AmazonEKSClusterAdminPolicy"), ("ci-preview", PREVIEW, "AmazonEKSAdminViewPolicy")):
        entry = p.named(ENTRY, f"::platform-prod-{role}-entry")
        assert entry["inputs"] == {"clusterName": "platform-prod", "principalArn": arn, "type": "STANDARD", "tags": {"platform/access": role}}
        association = p.named(ASSOCIATION, f"::platform-prod-{role}-policy")
        assert association["inputs"] == {"clusterName": "platform-prod", "principalArn": arn, "policyArn": POLICY.format(policy), "accessScope": {"type": "cluster"}}
        assert entry["urn"] in association["dependencies"]
    assert findings(resources_from_plan(p.data)) == []


def test_the_creator_is_not_also_a_ci_entry():
    raw = {**raw_of("staging"), "access": {**raw_of("staging")["access"], "ci_deploy_role_arn": "arn:aws:iam::210987654321:role/deployer"}}
    with pytest.raises(ConfigError) as err:
        config.parse(raw, stack="staging", aws={"region": "us-east-1", "assumeRoles": [{"roleArn": "arn:aws:iam::210987654321:role/deployer"}]}, secret_keys=frozenset(config.SECRET_KEYS))
    assert str(err.value) == (
        "platform:access.ci_deploy_role_arn: arn:aws:iam::210987654321:role/deployer is the deploy role (aws:assumeRoles): EKS makes it cluster-admin as the "
        "cluster's creator, and a second access entry for the same principal fails (pulumi/pulumi-eks#2373); remove it here"
    )


# ---------------------------------------------------------------------------- bad config


def raw_of(stack: str) -> dict[str, Any]:
    return {k.removeprefix("platform:"): v for k, v in stack_config(stack).items() if k.startswith("platform:")}


def parse(stack: str, **sections: Any) -> config.StackConfig:
    raw = {**raw_of(stack), **sections}
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"}, secret_keys=frozenset(config.SECRET_KEYS))


def teams(stack: str, **changes: dict[str, Any] | None) -> dict[str, Any]:
    current = dict(raw_of(stack)["access"]["teams"])
    for team, change in changes.items():
        if change is None:
            current.pop(team)
        else:
            current[team] = {**current.get(team, {"principal": "arn:aws:iam::123456789012:role/x"}), **change}
    return {"teams": current}


@pytest.mark.parametrize(
    "stack, access, message",
    [
        ("prod", teams("prod", designers={"principal": "arn:aws:iam::123456789012:role/design"}), "platform:access.teams: 'designers' is not a team; allowed: developers, qa, devops, oncall, break_glass"),
        (
            "staging",
            teams("staging", qa={"principal": "qa-team"}),
            "platform:access.teams.qa.principal: 'qa-team' is not a principal ARN; allowed: a role (arn:aws:iam::<account>:role/<name>), an IAM Identity Center role "
            "pattern (arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_<permission set>_*), or an account (arn:aws:iam::<account>:root, with MFA)",
        ),
        (
            "staging",
            teams("staging", qa={"principal": "arn:aws:iam::210987654321:role/qa-*"}),
            "platform:access.teams.qa.principal: 'arn:aws:iam::210987654321:role/qa-*' is not a principal ARN; allowed: a role (arn:aws:iam::<account>:role/<name>), an IAM Identity "
            "Center role pattern (arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_<permission set>_*), or an account (arn:aws:iam::<account>:root, with MFA)",
        ),
        ("prod", teams("prod", developers={"cluster": "edit"}), "platform:access.teams.developers.cluster: 'edit' writes, and in a production tier only devops, oncall, break_glass may write; allowed for developers: none, view"),
        ("prod", teams("prod", developers={"database": "read_write"}), "platform:access.teams.developers.database: 'read_write' writes, and in a production tier only devops, oncall, break_glass may write; allowed for developers: none, read_only"),
        ("prod", teams("prod", qa={"aws": "power_user"}), "platform:access.teams.qa.aws: 'power_user' writes, and in a production tier only devops, oncall, break_glass may write; allowed for qa: view_only"),
        ("prod", teams("prod", oncall={"cluster": "cluster_admin"}), "platform:access.teams.oncall.cluster: 'cluster_admin' in a production tier is only for devops and break_glass"),
        ("prod", teams("prod", break_glass=None), "platform:access.teams.break_glass: required in a production tier (the way in when single sign-on or the devops role fails)"),
        ("staging", teams("staging", qa={"namespaces": ["app", "qa"]}), "platform:access.teams.qa.namespaces[1]: 'qa' is not a namespace of this stack (app); name one, or a prefix ending in *"),
        ("staging", teams("staging", qa={"namespaces": ["App"]}), "platform:access.teams.qa.namespaces: 'App' is not a namespace name or a prefix ending in * (dev-*)"),
        ("staging", teams("staging", qa={"max_session_hours": 13}), "platform:access.teams.qa.max_session_hours: must be <= 12, got 13"),
        (
            "staging",
            teams("staging", qa={"max_session_hours": 8}),
            "platform:access.teams.qa: max_session_hours 8: a sso principal assumes the team role from a role session (role chaining), which AWS caps at 1 hour; "
            "leave it at 1, or use an account principal (IAM users with MFA)",
        ),
        (
            "prod",
            teams("prod", break_glass={"max_session_hours": 2}),
            "platform:access.teams.break_glass: max_session_hours 2: a role principal assumes the team role from a role session (role chaining), which AWS caps at 1 hour; "
            "leave it at 1, or use an account principal (IAM users with MFA)",
        ),
        ("staging", teams("staging", qa={"cluster": "owner"}), "platform:access.teams.qa.cluster: got 'owner'; allowed: 'none', 'view', 'edit', 'admin' or 'cluster_admin'"),
    ],
)
def test_bad_access_config_is_one_line(stack, access, message):
    with pytest.raises(ConfigError) as err:
        parse(stack, access=access)
    assert str(err.value) == message


def test_developers_may_write_outside_production():
    # The same grant that prod refuses is the committed dev one.
    assert parse("dev").access.teams["developers"].writes


@pytest.mark.parametrize(
    "stack, account_section, message",
    [
        ("prod", {"id": 123456789012}, "platform:account.id: write the account id in quotes ('123456789012'): YAML reads a bare number and would drop a leading zero"),
        ("prod", {"id": "12345"}, "platform:account.id: '12345' does not match ^\\d{12}$"),
        ("prod", {}, "platform:account.id: required, not set"),
        ("dev", {"id": "210987654321", "audit_owner": "qa", "create_autoscaling_service_linked_role": False}, "platform:account.audit_owner: names stack 'qa', but there is no Pulumi.qa.yaml"),
        ("dev", {"id": "210987654321", "audit_owner": "prod", "create_autoscaling_service_linked_role": False}, "platform:account.audit_owner: names stack 'prod', which deploys into account 123456789012, not 210987654321"),
        (
            "dev",
            {"id": "210987654321", "create_autoscaling_service_linked_role": False},
            "platform:account.audit_owner: stacks dev and staging both own the audit trail of account 210987654321 (a second trail bills every event again); "
            "set audit_owner: staging here, or audit_owner: dev in Pulumi.staging.yaml",
        ),
        (
            "dev",
            {"id": "210987654321", "audit_owner": "staging"},
            "platform:account.create_autoscaling_service_linked_role: stacks dev and staging both create AWSServiceRoleForAutoScaling in account 210987654321, "
            "and the second fails; set false in every stack of the account but the one deployed first",
        ),
    ],
)
def test_bad_account_config_is_one_line(stack, account_section, message):
    raw = {k: v for k, v in raw_of(stack).items() if k != "audit" or stack != "dev"}
    raw["account"] = account_section
    with pytest.raises(ConfigError) as err:
        config.parse(raw, stack=stack, aws={"region": "us-east-1"}, secret_keys=frozenset(config.SECRET_KEYS))
    assert str(err.value) == message


def test_an_environment_name_too_long_for_the_trail_bucket_is_refused():
    # Short enough for the load balancer and the node groups; with the account and a long
    # region the bucket name is 65 characters.
    env = "prod-customers-eu"
    with pytest.raises(ConfigError) as err:
        config.parse({**raw_of("prod"), "environment": env}, stack=env, aws={"region": "ap-southeast-2"}, secret_keys=frozenset(config.SECRET_KEYS), other_accounts={})
    bucket = f"platform-{env}-cloudtrail-123456789012-ap-southeast-2"
    assert str(err.value) == f"platform:environment: '{env}' is too long for the audit trail's bucket {bucket} (65 characters; S3 allows 63)"


def test_a_stack_that_leaves_the_audit_elsewhere_has_no_audit_section():
    with pytest.raises(ConfigError) as err:
        parse("dev", audit={"trail_retention_days": 365})
    assert str(err.value) == "platform:audit: this stack leaves the account's audit to stack 'staging' (account.audit_owner); set it in Pulumi.staging.yaml"


def test_a_chain_of_owners_is_refused():
    others = {"staging": {"id": "210987654321", "audit_owner": "prod"}, "prod": {"id": "210987654321"}}
    account_section = config.AccountConfig(id="210987654321", audit_owner="staging")
    assert config.audit_owner_problem("dev", account_section, others) == "names stack 'staging', which leaves the audit to 'prod'; name the owner itself"
    assert config.audit_owner_problem("dev", config.AccountConfig(id="210987654321", audit_owner="prod"), others) is None


def test_every_account_of_the_committed_stacks_has_one_audit_owner():
    accounts = config.stack_file_accounts()
    owners: dict[str, list[str]] = {}
    for stack, section in accounts.items():
        owner = section.get("audit_owner") or stack
        owners.setdefault(str(section["id"]), []).append(owner)
    assert {acct: sorted(set(o)) for acct, o in owners.items()} == {"210987654321": ["staging"], "123456789012": ["prod"]}


# ---------------------------------------------------------------------------- the account guard


@pytest.mark.parametrize("stack", STACKS)
def test_the_provider_acts_only_in_the_stacks_account(stack):
    (provider,) = plan(stack).of_type("pulumi:providers:aws")
    assert json.loads(provider["inputs"]["allowedAccountIds"]) == [account(stack)]


def test_credentials_for_another_account_stop_before_any_resource():
    with pytest.raises(Exception) as err:
        run_program("staging", account_id="123456789012")
    assert "AWS account ID not allowed: 123456789012" in str(err.value)


def test_iam_users_with_mfa_may_have_longer_sessions():
    access = teams("prod", oncall={"principal": "arn:aws:iam::123456789012:root", "max_session_hours": 4})
    assert parse("prod", access=access).access.teams["oncall"].max_session_hours == 4
