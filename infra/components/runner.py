"""The environment's CI runner: an AWS CodeBuild-hosted GitHub Actions runner inside the VPC.

The EKS API endpoint is private by default, so only something inside the VPC can reach the
Kubernetes API. The workflow jobs that preview, deploy or destroy this stack run here
(docs/ci.md): a job asks for the runner with the label
`codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`, GitHub queues it, the
webhook starts one ephemeral build of the project, and that build runs the job.
(AWS CodeBuild User Guide, "Tutorial: Configure a CodeBuild-hosted GitHub Actions runner" and
"Label overrides supported with the CodeBuild-hosted GitHub Actions runner".)

Creates:
- `{name}-runner-logs`: the `/aws/codebuild/<project>` log group (retention from config,
  the platform's KMS key), made before the project so builds never log into one that
  CodeBuild creates without either;
- `{name}-runner-sg`: the builds' security group in the VPC, egress only: `{name}-runner-egress`
  allows TCP 443 out (GitHub, AWS APIs and the state bucket through NAT, the EKS endpoint in
  the VPC); nothing may connect to a runner. DNS to the VPC resolver needs no rule;
- `{name}-runner-eks-api`: an ingress rule on the EKS cluster security group, TCP 443 from
  the runner's group: the one door the runner needs into the control plane;
- `{name}-runner-role` and its policy `{name}-runner-policy`: what CodeBuild itself uses, and
  no more: write its own log group, read the GitHub connection's token, manage the build's
  network interfaces in the private subnets. It cannot assume the deploy role: jobs get
  cloud credentials through GitHub OIDC in their environment (docs/ci.md), so a job on this
  runner that is not in the stack's environment gets nothing;
- `{name}-runner`: the CodeBuild project `<name>-runner`: GitHub source authenticated by the
  CodeConnections connection from config, Ubuntu standard image, no artifacts, VPC config
  in the private subnets with the runner's group;
- `{name}-runner-webhook`: the repository webhook, filter `EVENT = WORKFLOW_JOB_QUEUED`, which
  makes the project a runner project (pulumi_aws codebuild.Webhook, "For CodeBuild Runner
  Project").

Outputs: project_name, label, security_group_id, role_arn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._shared import service_role_trust
from infra.config import RunnerConfig

# CodeBuild's Ubuntu 22.04 curated image: actions/setup-python finds its Python builds for it.
RUNNER_IMAGE = "aws/codebuild/standard:7.0"
# Everything a runner talks to is HTTPS: GitHub, AWS APIs, PyPI, the Pulumi plugin downloads,
# the state bucket, and the Kubernetes API (private endpoint).
HTTPS = 443


def runner_label(project_name: str) -> str:
    """The `runs-on` label a job uses to run on the project (AWS: "codebuild-<project-name>-...")."""
    return f"codebuild-{project_name}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


def connection_service(connection_arn: str) -> str:
    """IAM's service prefix for a connection: it must match the ARN's (AWS CodeConnections docs)."""
    return connection_arn.split(":")[2]


@dataclass(frozen=True)
class RunnerArgs:
    config: RunnerConfig
    region: str
    vpc_id: pulumi.Input[str]
    # The network's private subnets: egress through NAT, the EKS endpoint's ENIs live there too.
    private_subnet_ids: pulumi.Input[Sequence[str]]
    # The security group on the EKS control plane's network interfaces; it admits the runner on 443.
    cluster_security_group_id: pulumi.Input[str]
    # The CMK that encrypts the runner's log group.
    kms_key_arn: pulumi.Input[str]


class Runner(pulumi.ComponentResource):
    project_name: str
    label: str
    security_group_id: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:runner:Runner", name, None, opts)
        # validate: nothing left; the section and the region were validated when the config loaded.

        # derive
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        project_name = f"{name}-runner"
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        connections = connection_service(cfg.connection_arn)

        # create children
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-runner-logs",
            name=f"/aws/codebuild/{project_name}",
            retention_in_days=cfg.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )

        sg = aws.ec2.SecurityGroup(
            f"{name}-runner-sg",
            vpc_id=args.vpc_id,
            description=f"{project_name}: CodeBuild-hosted GitHub Actions runner, egress only",
            tags={"Name": f"{name}-runner"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-runner-egress",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            cidr_ipv4="0.0.0.0/0",
            description="GitHub, AWS APIs, the state bucket and the EKS API, over HTTPS",
            opts=child,
        )
        # pulumi_eks gives this group no inline rules (its own are separate resources), so a
        # separate rule of ours is never revoked by an update of the group.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-runner-eks-api",
            security_group_id=args.cluster_security_group_id,
            referenced_security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="Kubernetes API from the CI runner",
            opts=child,
        )

        role = aws.iam.Role(
            f"{name}-runner-role",
            description=f"{project_name}: what CodeBuild needs to run the runner; jobs get their own credentials by OIDC",
            assume_role_policy=service_role_trust("codebuild.amazonaws.com", account),
            opts=child,
        )
        subnet_arns = pulumi.Output.all(account, args.private_subnet_ids).apply(
            lambda values: [f"arn:aws:ec2:{args.region}:{values[0]}:subnet/{subnet}" for subnet in values[1]]
        )
        policy = aws.iam.RolePolicy(
            f"{name}-runner-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OwnLogGroup",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": [log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
                        },
                        {
                            # AWS CodeBuild User Guide, "GitHub App connections", step 2.
                            "Sid": "GitHubConnection",
                            "Effect": "Allow",
                            "Action": [f"{connections}:GetConnectionToken", f"{connections}:GetConnection"],
                            "Resource": [cfg.connection_arn],
                        },
                        {
                            # AWS CodeBuild User Guide, "Allow CodeBuild access to AWS services required
                            # to create a VPC network interface": these actions take no resource.
                            "Sid": "BuildNetworkInterfaces",
                            "Effect": "Allow",
                            "Action": [
                                "ec2:CreateNetworkInterface",
                                "ec2:DescribeDhcpOptions",
                                "ec2:DescribeNetworkInterfaces",
                                "ec2:DeleteNetworkInterface",
                                "ec2:DescribeSubnets",
                                "ec2:DescribeSecurityGroups",
                                "ec2:DescribeVpcs",
                            ],
                            "Resource": "*",
                        },
                        {
                            "Sid": "BuildNetworkInterfacesInPrivateSubnetsOnly",
                            "Effect": "Allow",
                            "Action": "ec2:CreateNetworkInterfacePermission",
                            "Resource": pulumi.Output.concat("arn:aws:ec2:", args.region, ":", account, ":network-interface/*"),
                            "Condition": {
                                "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                                "ArnEquals": {"ec2:Subnet": subnet_arns},
                            },
                        },
                    ],
                }
            ),
            opts=child,
        )

        project = aws.codebuild.Project(
            f"{name}-runner",
            name=project_name,
            description=f"GitHub Actions runner for {cfg.github_repository} inside the {name} VPC (docs/ci.md)",
            service_role=role.arn,
            build_timeout=cfg.build_timeout_minutes,
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB",
                location=f"https://github.com/{cfg.github_repository}.git",
                auth=aws.codebuild.ProjectSourceAuthArgs(type="CODECONNECTIONS", resource=cfg.connection_arn),
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=cfg.compute_type,
                image=RUNNER_IMAGE,
                image_pull_credentials_type="CODEBUILD",
                # No Docker daemon: no job here builds images.
                privileged_mode=False,
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(vpc_id=args.vpc_id, subnets=args.private_subnet_ids, security_group_ids=[sg.id]),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(status="ENABLED", group_name=log_group.name),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            # CodeBuild checks the role's VPC permissions when the project is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        aws.codebuild.Webhook(
            f"{name}-runner-webhook",
            project_name=project.name,
            build_type="BUILD",
            filter_groups=[
                aws.codebuild.WebhookFilterGroupArgs(filters=[aws.codebuild.WebhookFilterGroupFilterArgs(type="EVENT", pattern="WORKFLOW_JOB_QUEUED")]),
            ],
            opts=child,
        )

        # outputs
        self.project_name = project_name
        self.label = runner_label(project_name)
        self.security_group_id = sg.id
        self.role_arn = role.arn
        self.register_outputs(
            {"project_name": self.project_name, "label": self.label, "security_group_id": self.security_group_id, "role_arn": self.role_arn}
        )
