"""The CI runner: a CodeBuild-hosted GitHub Actions runner in the private subnets, per stack.

Its exact inputs per committed stack (project, webhook, network, role, logs), what its role may
not do, when it is built (`platform:runner.enabled`, unset: where the endpoint is private),
and the one-line errors of its config section.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import config
from infra.components.runner import connection_service, runner_label
from infra.config import ConfigError
from tests.conftest import STACKS, account, plan, stack_config

PROJECT = "aws:codebuild/project:Project"
WEBHOOK = "aws:codebuild/webhook:Webhook"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
RETENTION = {"dev": 30, "staging": 90, "prod": 365}
def connection(stack: str) -> str:
    """Each stack file's CodeConnections connection, in its own account."""
    return stack_config(stack)["platform:runner"]["connection_arn"]


def runner_of(stack: str) -> dict[str, Any]:
    return stack_config(stack)["platform:runner"]


def project(stack: str, **overrides: Any) -> dict[str, Any]:
    return plan(stack, **overrides).named(PROJECT, f"platform-{stack}-runner")


def policy(stack: str) -> dict[str, Any]:
    return json.loads(plan(stack).named("aws:iam/rolePolicy:RolePolicy", f"platform-{stack}-runner-policy")["inputs"]["policy"])


def test_project_is_a_github_runner_in_the_private_subnets(stack):
    p = plan(stack)
    inputs = project(stack)["inputs"]
    assert inputs["name"] == f"platform-{stack}-runner"
    assert inputs["source"] == {"type": "GITHUB", "location": "https://github.com/acme/platform.git", "auth": {"type": "CODECONNECTIONS", "resource": connection(stack)}}
    assert inputs["environment"] == {
        "type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL", "image": "aws/codebuild/standard:7.0",
        "imagePullCredentialsType": "CODEBUILD", "privilegedMode": False,
    }
    assert inputs["artifacts"] == {"type": "NO_ARTIFACTS"}
    private = [p.named("aws:ec2/subnet:Subnet", f"platform-{stack}-private-{i + 1}")["id"] for i in range(len(inputs["vpcConfig"]["subnets"]))]
    assert inputs["vpcConfig"] == {
        "vpcId": p.named("aws:ec2/vpc:Vpc", f"platform-{stack}-vpc")["id"],
        "subnets": private,
        "securityGroupIds": [p.named(SG, f"platform-{stack}-runner-sg")["id"]],
    }
    assert len(private) == len(p.outputs["private_subnet_ids"])
    # At least the deploy job's 90 minutes: a runner build lasts as long as its job.
    assert inputs["buildTimeout"] == 120
    assert inputs["serviceRole"] == p.named("aws:iam/role:Role", f"platform-{stack}-runner-role")["outputs"]["arn"]
    assert inputs["logsConfig"] == {"cloudwatchLogs": {"status": "ENABLED", "groupName": f"/aws/codebuild/platform-{stack}-runner"}, "s3Logs": {"status": "DISABLED"}}


def test_webhook_makes_it_a_runner_project(stack):
    # pulumi_aws codebuild.Webhook, "For CodeBuild Runner Project": EVENT = WORKFLOW_JOB_QUEUED.
    inputs = plan(stack).named(WEBHOOK, f"platform-{stack}-runner-webhook")["inputs"]
    assert inputs == {"projectName": f"platform-{stack}-runner", "buildType": "BUILD", "filterGroups": [{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}]}


def test_log_group_has_a_retention_and_the_platform_key(stack):
    p = plan(stack)
    inputs = p.named("aws:cloudwatch/logGroup:LogGroup", f"platform-{stack}-runner-logs")["inputs"]
    assert inputs == {"name": f"/aws/codebuild/platform-{stack}-runner", "retentionInDays": RETENTION[stack], "kmsKeyId": p.outputs["kms_key_arn"]}


def test_security_group_is_egress_only_and_the_cluster_admits_it_on_443(stack):
    p = plan(stack)
    sg = p.named(SG, f"platform-{stack}-runner-sg")
    assert "ingress" not in sg["inputs"] and "egress" not in sg["inputs"]  # rules are separate resources
    assert [r["inputs"] for r in p.of_type(INGRESS) if r["inputs"]["securityGroupId"] == sg["id"]] == []
    assert [r["inputs"] for r in p.of_type(SG_RULE) if r["inputs"]["securityGroupId"] == sg["id"]] == []
    # and no data store admits it: only the cluster does
    admitted = [r["urn"].rsplit("::", 1)[-1] for r in p.of_type(INGRESS) if r["inputs"].get("referencedSecurityGroupId") == sg["id"]]
    assert admitted == [f"platform-{stack}-runner-eks-api"]
    egress = [r["inputs"] for r in p.of_type(EGRESS) if r["inputs"]["securityGroupId"] == sg["id"]]
    assert egress == [{
        "securityGroupId": sg["id"], "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0",
        "description": "GitHub, AWS APIs, the state bucket and the EKS API, over HTTPS",
    }]
    eks = p.named("eks:index:Cluster", f"platform-{stack}-eks")
    rule = p.named(INGRESS, f"platform-{stack}-runner-eks-api")
    assert rule["inputs"] == {
        "securityGroupId": eks["outputs"]["clusterSecurityGroupId"], "referencedSecurityGroupId": sg["id"],
        "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "description": "Kubernetes API from the CI runner",
    }
    assert eks["urn"] in rule["dependencies"]


def test_role_is_for_codebuild_of_this_account_only(stack):
    role = plan(stack).named("aws:iam/role:Role", f"platform-{stack}-runner-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account(stack)}},
    }]


def test_role_may_log_use_the_connection_and_place_the_build_in_the_private_subnets_only(stack):
    p = plan(stack)
    by_sid = {s["Sid"]: s for s in policy(stack)["Statement"]}
    log_arn = p.named("aws:cloudwatch/logGroup:LogGroup", f"platform-{stack}-runner-logs")["outputs"]["arn"]
    assert by_sid["OwnLogGroup"] == {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [log_arn, f"{log_arn}:*"]}
    assert by_sid["GitHubConnection"]["Action"] == ["codeconnections:GetConnectionToken", "codeconnections:GetConnection"]
    assert by_sid["GitHubConnection"]["Resource"] == [connection(stack)]
    eni = by_sid["BuildNetworkInterfacesInPrivateSubnetsOnly"]
    subnets = [f"arn:aws:ec2:us-east-1:{account(stack)}:subnet/{s}" for s in p.outputs["private_subnet_ids"]]
    assert eni["Condition"] == {"StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"}, "ArnEquals": {"ec2:Subnet": subnets}}
    assert eni["Resource"] == f"arn:aws:ec2:us-east-1:{account(stack)}:network-interface/*"
    assert set(by_sid) == {"OwnLogGroup", "GitHubConnection", "BuildNetworkInterfaces", "BuildNetworkInterfacesInPrivateSubnetsOnly"}


def test_role_cannot_assume_roles_or_act_beyond_its_list(stack):
    # Jobs get cloud credentials by OIDC in their GitHub environment; a role that could assume
    # the deploy role would hand it to any job on the runner, a pull request's preview included.
    actions = [a for s in policy(stack)["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not any(a.startswith(("sts:", "iam:", "kms:", "s3:", "eks:")) or "*" in a for a in actions), actions
    wildcard = [s["Sid"] for s in policy(stack)["Statement"] if s["Resource"] == "*"]
    assert wildcard == ["BuildNetworkInterfaces"]  # EC2 describe/create-interface take no resource


def test_project_waits_for_its_vpc_permissions(stack):
    p = plan(stack)
    policy_urn = p.named("aws:iam/rolePolicy:RolePolicy", f"platform-{stack}-runner-policy")["urn"]
    assert policy_urn in project(stack)["dependencies"]


def test_outputs_name_the_project_and_its_label(stack):
    outputs = plan(stack).outputs
    assert outputs["runner_project_name"] == f"platform-{stack}-runner"
    assert outputs["runner_label"] == f"codebuild-platform-{stack}-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
    assert runner_label("p") == "codebuild-p-${{ github.run_id }}-${{ github.run_attempt }}"


def test_every_runner_resource_is_a_child_of_the_component(stack):
    p = plan(stack)
    component = p.named("platform:runner:Runner", f"::platform-{stack}")["urn"]
    names = sorted(s["urn"].rsplit("::", 1)[-1] for s in p.states if s.get("parent") == component)
    assert names == sorted(f"platform-{stack}-runner{suffix}" for suffix in ("", "-logs", "-sg", "-egress", "-eks-api", "-role", "-policy", "-webhook"))


# ---------------------------------------------------------------------------- when it exists


def test_unset_enabled_means_on_where_the_endpoint_is_private():
    cluster = {**stack_config("staging")["platform:cluster"], "public_access_cidrs": ["203.0.113.0/24"]}
    public = plan("staging", **{"platform:cluster": cluster})
    assert public.of_type(PROJECT) == [] and "runner_label" not in public.outputs
    forced = plan("staging", **{"platform:cluster": cluster, "platform:runner": {**runner_of("staging"), "enabled": True}})
    assert len(forced.of_type(PROJECT)) == 1


def test_enabled_false_or_no_section_builds_none():
    off = plan("dev", **{"platform:runner": {**runner_of("dev"), "enabled": False}})
    absent = plan("dev", **{"platform:runner": None})
    for p in (off, absent):
        assert p.of_type(PROJECT) == [] and p.of_type(WEBHOOK) == [] and "runner_project_name" not in p.outputs


def test_a_bigger_runner_is_one_field():
    inputs = project("prod", **{"platform:runner": {**runner_of("prod"), "compute_type": "BUILD_GENERAL1_MEDIUM", "build_timeout_minutes": 180}})["inputs"]
    assert inputs["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM" and inputs["buildTimeout"] == 180


def test_an_older_codestar_connection_gets_its_own_iam_prefix():
    arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/11111111-2222-4333-8444-555555555555"
    assert connection_service(arn) == "codestar-connections"
    p = plan("dev", **{"platform:runner": {**runner_of("dev"), "connection_arn": arn}})
    statements = json.loads(p.named("aws:iam/rolePolicy:RolePolicy", "platform-dev-runner-policy")["inputs"]["policy"])["Statement"]
    connection = next(s for s in statements if s["Sid"] == "GitHubConnection")
    assert connection["Action"] == ["codestar-connections:GetConnectionToken", "codestar-connections:GetConnection"]


# ---------------------------------------------------------------------------- config errors


def parse_with_runner(stack: str, runner: Any) -> config.StackConfig:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("platform:")}
    raw["runner"] = runner
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"})


@pytest.mark.parametrize("stack", STACKS)
def test_committed_runner_sections_are_valid(stack):
    cfg = parse_with_runner(stack, runner_of(stack))
    assert cfg.runner is not None and cfg.runner.enabled_for(cfg.cluster)


@pytest.mark.parametrize(
    ("stack", "change", "message"),
    [
        ("dev", {"github_repository": "platform"}, "platform:runner.github_repository: 'platform' is not a GitHub repository 'owner/name'"),
        ("dev", {"github_repository": "acme/platform/extra"}, "platform:runner.github_repository: 'acme/platform/extra' is not a GitHub repository 'owner/name'"),
        ("dev", {"connection_arn": "arn:aws:iam::123456789012:role/x"}, "platform:runner.connection_arn: 'arn:aws:iam::123456789012:role/x' is not a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>)"),
        ("dev", {"compute_type": "BUILD_GENERAL1_2XLARGE"}, "platform:runner.compute_type: got 'BUILD_GENERAL1_2XLARGE'; allowed: 'BUILD_GENERAL1_SMALL', 'BUILD_GENERAL1_MEDIUM' or 'BUILD_GENERAL1_LARGE'"),
        ("dev", {"build_timeout_minutes": 3000}, "platform:runner.build_timeout_minutes: must be <= 2160, got 3000"),
        ("dev", {"log_retention_days": 10}, "platform:runner.log_retention_days: must be one of the CloudWatch Logs retention periods 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
        ("dev", {"enabled": "sometimes"}, "platform:runner.enabled: expected true or false, got 'sometimes'"),
        ("dev", {"labels": ["x"]}, "platform:runner.labels: unknown key; allowed: build_timeout_minutes, compute_type, connection_arn, enabled, github_repository, log_retention_days"),
        ("prod", {"log_retention_days": 90}, "platform:runner.log_retention_days: must be at least 365 in a production tier (every log is kept a year)"),
    ],
)
def test_bad_runner_input_gets_one_exact_line(stack, change, message):
    with pytest.raises(ConfigError) as err:
        parse_with_runner(stack, {**runner_of(stack), **change})
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_repository_and_connection_are_required():
    with pytest.raises(ConfigError) as err:
        parse_with_runner("dev", {"compute_type": "BUILD_GENERAL1_SMALL"})
    assert str(err.value) == "platform:runner.github_repository: required, not set"
