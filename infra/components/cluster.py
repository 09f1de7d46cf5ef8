"""The environment's Kubernetes: EKS with managed node groups, private by default.

Creates:
- `{name}-control-plane-logs`: the `/aws/eks/<cluster>/cluster` log group, made before the
  cluster so EKS writes into one with a retention and a KMS key instead of creating its own
  that never expires (CIS EKS 2.1.2);
- `{name}-node-role`: the nodes' IAM role (worker, CNI, ECR read-only, SSM for break-glass
  access without SSH), and with `session_log_group_arn` its `{name}-node-session-logs` policy:
  write the account's Session Manager log group and decrypt session data with the audit
  owner's key (infra/components/audit.py);
- `{name}-eks`: the `pulumi_eks` cluster: `API` authentication (people's access entries are
  their teams', infra/components/access.py), no default node group, private endpoint (public only for the allowlisted
  CIDRs), KMS envelope encryption of Secrets, control-plane logs, OIDC provider for IRSA,
  none of pulumi_eks's own add-ons (infra/components/addons.py declares them);
- per node group: `{name}-{group}-lt` launch template (IMDSv2 only, hop limit 1, encrypted
  gp3 root volume, no public IP) and `{name}-{group}` managed node group in the private
  subnets, whose desired size the autoscaler owns after creation. Its EKS name is
  `<cluster>-<group>-` plus a suffix EKS's provider makes unique per creation, so a
  replacement never collides with the group it replaces; read it from `node_group_names`;
- `{name}-k8s`: the Kubernetes provider for everything that runs on the cluster.

Outputs: cluster_name, api_cluster_name (the name, resolved once the cluster exists), kubeconfig (secret), oidc_provider_arn, oidc_provider_url, k8s_provider,
node_groups (what must exist before anything that needs a running pod), node_group_names
(config name -> the group's EKS name, known once the group exists), autoscaling_group_names
(config name -> the Auto Scaling group EKS made for it), cluster_security_group_id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.config import NODE_GROUP_NAME_MAX, NODE_GROUP_UNIQUE_SUFFIX, ClusterConfig, node_group_name_prefix
from infra.versions import KUBERNETES_VERSION


# What a node's launch template tags at launch (EC2 CreateLaunchTemplate TagSpecifications).
NODE_TAGGED_RESOURCES = ("instance", "volume", "network-interface")

NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "ecr": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
}


def ami_type(instance_type: str) -> str:
    """AL2023 AMI for the instance family's architecture (Graviton families end in g: m7g, t4g)."""
    family = instance_type.split(".")[0]
    return "AL2023_ARM_64_STANDARD" if family[-1] == "g" or family.endswith("gd") else "AL2023_x86_64_STANDARD"


@dataclass(frozen=True)
class ClusterArgs:
    config: ClusterConfig
    # Physical name of the cluster; schedules and node groups refer to it by name.
    cluster_name: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    # The network's nodes security group: data stores admit it.
    node_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    # The stack's base tags. Provider default tags reach the launch template itself but not
    # what the node group's Auto Scaling group launches from it; only the template's tag
    # specifications do (provider docs, "default_tags": not applied to launch template tag
    # specifications; EKS: node group tags do not propagate to instances).
    tags: Mapping[str, str] = field(default_factory=dict)
    # What must exist before a node launches: the key's grant to Auto Scaling (infra/components/
    # keys.py); an instance launched before it cannot create its encrypted root volume.
    node_launch_dependencies: Sequence[pulumi.Resource] = ()
    # The identity that deploys (the stack's `aws:assumeRoles` role, or `aws:profile`): the
    # kubeconfig's `aws eks get-token` must run as it, not as the ambient credentials, or the
    # Kubernetes provider reaches the API as someone EKS never admitted. That identity creates
    # the cluster, so EKS's creator bootstrap makes it cluster-admin (pulumi_eks always asks
    # for it, and an explicit access entry for it would collide: pulumi/pulumi-eks#2373).
    deploy_role_arn: str | None = None
    aws_profile: str | None = None
    # Where Session Manager logs this account's sessions (audit.session_log_group_arn): the
    # audit owner's group, also in a stack that does not own the audit (dev logs into
    # staging's). None: no session-log policy.
    session_log_group_arn: str | None = None
    # The alias of the key that encrypts session data when that key is another stack's (the
    # audit owner's: audit.session_key_alias); None: this stack's own key (kms_key_arn).
    session_key_alias: str | None = None


def session_logs_policy(log_group_arn: str, own_key_arn: pulumi.Input[str], key_alias: str | None) -> dict[str, Any]:
    """What a node needs for logged, encrypted sessions beyond AmazonSSMManagedInstanceCore
    (which has neither logs:PutLogEvents nor KMS): the Systems Manager user guide, "Create a
    custom IAM instance profile for Session Manager", scoped to the one log group and the one
    key. The agent lists log groups to check the group is encrypted (cloudWatchEncryptionEnabled),
    and DescribeLogGroups takes no narrower resource than the region's groups. Another stack's
    key is matched by its alias (kms:ResourceAliases, KMS developer guide "ABAC for AWS KMS"):
    a stack that does not own the audit cannot know the owner's key id."""
    _, _, _, region, account, _ = log_group_arn.split(":", 5)
    decrypt: dict[str, Any] = {"Sid": "DecryptSessionData", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": own_key_arn}
    if key_alias is not None:
        decrypt.update(Resource=f"arn:aws:kms:{region}:{account}:key/*", Condition={"ForAnyValue:StringEquals": {"kms:ResourceAliases": key_alias}})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteSessionLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
            {"Sid": "CheckSessionLogEncryption", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": f"arn:aws:logs:{region}:{account}:log-group:*"},
            decrypt,
        ],
    }


def physical_name(node_group: Any, prefix: str) -> pulumi.Input[str]:
    """The group's EKS name from pulumi_eks's `nodeGroup` output (the aws.eks.NodeGroup it made).

    With resource references (the real engine) the output is the NodeGroup itself; without
    them Pulumi passes a custom resource as its id, `<cluster>:<name>` for a node group. No
    value means the engine reported none: the offline mocks model no `nodeGroup`, and the
    name then reads `<prefix>unreported`, which EKS never gives, so a plan shows it plainly.
    """
    if isinstance(node_group, aws.eks.NodeGroup):
        return node_group.node_group_name
    if isinstance(node_group, str) and ":" in node_group:
        return node_group.split(":", 1)[1]
    return f"{prefix}unreported"


class Cluster(pulumi.ComponentResource):
    cluster_name: str
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    k8s_provider: k8s.Provider
    node_group_names: dict[str, pulumi.Output[str]]
    autoscaling_group_names: dict[str, pulumi.Output[str]]
    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cluster:Cluster", name, None, opts)
        cfg = args.config
        # validate
        arches = {g.name: {ami_type(t) for t in g.instance_types} for g in cfg.node_groups}
        mixed = sorted(n for n, a in arches.items() if len(a) > 1)
        if mixed:
            raise ValueError(f"node group(s) {', '.join(mixed)} mix ARM and x86 instance types; a managed node group has one AMI")
        too_long = sorted(g.name for g in cfg.node_groups if len(node_group_name_prefix(args.cluster_name, g.name)) + NODE_GROUP_UNIQUE_SUFFIX > NODE_GROUP_NAME_MAX)
        if too_long:
            raise ValueError(
                f"node group(s) {', '.join(too_long)}: {args.cluster_name}-<group>- plus the {NODE_GROUP_UNIQUE_SUFFIX}-character unique suffix exceeds the {NODE_GROUP_NAME_MAX} characters EKS allows"
            )
        if args.session_key_alias is not None and args.session_log_group_arn is None:
            raise ValueError("session_key_alias needs session_log_group_arn: the key encrypts that group's sessions")
        child = pulumi.ResourceOptions(parent=self)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=cfg.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            ),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{role}", role=node_role.name, policy_arn=arn, opts=child) for role, arn in NODE_POLICIES.items()
        ]
        if args.session_log_group_arn is not None:
            # Sessions are how one gets onto a node (no SSH): logged, so the node must write.
            aws.iam.RolePolicy(
                f"{name}-node-session-logs",
                role=node_role.id,
                policy=pulumi.Output.json_dumps(session_logs_policy(args.session_log_group_arn, args.kms_key_arn, args.session_key_alias)),
                opts=child,
            )

        public = bool(cfg.public_access_cidrs)
        cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=KUBERNETES_VERSION,
            vpc_id=args.vpc_id,
            # Control-plane ENIs and nodes live in the private subnets only.
            subnet_ids=args.private_subnet_ids,
            endpoint_private_access=True,
            # pulumi_eks defaults to a public endpoint open to the world; never here.
            endpoint_public_access=public,
            public_access_cidrs=list(cfg.public_access_cidrs) if public else None,
            skip_default_node_group=True,
            node_associate_public_ip_address=False,
            authentication_mode=eks.AuthenticationMode.API,
            # People reach the cluster through their team's access entries (infra/components/access.py).
            encryption_config_key_arn=args.kms_key_arn,
            enabled_cluster_log_types=list(cfg.log_types),
            create_oidc_provider=True,
            # The managed add-ons are declared once, pinned, in infra/components/addons.py
            # (visible in the plan, CoreDNS after the nodes). pulumi_eks would otherwise add
            # vpc-cni and kube-proxy of its own at the newest version (its `useDefaultVpcCni`
            # docstring says the opposite; cluster.ts creates the add-on unless it is true).
            use_default_vpc_cni=True,
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            provider_credential_opts=(
                eks.KubeconfigOptionsArgs(role_arn=args.deploy_role_arn, profile_name=args.aws_profile)
                if args.deploy_role_arn or args.aws_profile
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )

        self.node_groups: list[eks.ManagedNodeGroup] = []
        self.node_group_names = {}
        self.autoscaling_group_names = {}
        for group in cfg.node_groups:
            launch_template = aws.ec2.LaunchTemplate(
                f"{name}-{group.name}-lt",
                description=f"{args.cluster_name} {group.name} nodes",
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",
                    # Pods (not on the host network) cannot reach the node's credentials;
                    # they get their own through IRSA.
                    http_put_response_hop_limit=1,
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=group.disk_size_gb,
                            volume_type="gp3",
                            encrypted="true",
                            kms_key_id=args.kms_key_arn,
                            delete_on_termination="true",
                        ),
                    )
                ],
                # pulumi_eks's node group carries the control-plane rules; ours marks the
                # nodes as clients of the data stores.
                vpc_security_group_ids=[cluster.node_security_group_id, args.node_security_group_id],
                # Every instance, its volumes and its network interfaces carry the base tags, so
                # the tag-filtered budget sees the biggest cost lines.
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**args.tags, "Name": f"{args.cluster_name}-{group.name}"})
                    for kind in NODE_TAGGED_RESOURCES
                ],
                update_default_version=True,
                opts=child,
            )
            prefix = node_group_name_prefix(args.cluster_name, group.name)
            node_group = eks.ManagedNodeGroup(
                f"{name}-{group.name}",
                cluster=cluster,
                # A prefix, not a fixed name: instance types, capacity type, AMI type, subnets,
                # node role and launch template id are ForceNew (aws_eks_node_group), Pulumi
                # creates the replacement before deleting the group, and EKS refuses a second
                # group of the same name (ResourceInUseException). Moving an existing group from
                # its fixed name to the prefix replaces it once, new nodes first.
                node_group_name_prefix=prefix,
                node_role=node_role,
                subnet_ids=args.private_subnet_ids,
                ami_type=ami_type(group.instance_types[0]),
                instance_types=list(group.instance_types),
                capacity_type=group.capacity_type,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size),
                # The cluster autoscaler (and the off-hours schedule) own the desired size
                # once the group exists; `pulumi up` must not snap it back.
                ignore_scaling_changes=True,
                labels=dict(group.labels) or None,
                taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=t.effect) for t in group.taints] or None,
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=launch_template.id, version=launch_template.latest_version.apply(str)),
                # With a custom launch template EKS takes no version from the cluster: without
                # this, a KUBERNETES_VERSION bump upgrades the control plane and leaves the nodes.
                version=KUBERNETES_VERSION,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, *args.node_launch_dependencies]),
            )
            self.node_groups.append(node_group)
            # Read back, so whatever addresses the group (the off-hours schedules) follows a
            # replacement and waits for the group to exist.
            self.node_group_names[group.name] = node_group.node_group.apply(lambda g, prefix=prefix: physical_name(g, prefix))
            # The Auto Scaling group EKS made for it (eks-<group name>-<uuid>): the autoscaler's
            # scale-from-zero tags and the off-hours pause address it. Read through EKS, known
            # once the group exists (a preview of a new group shows it unknown).
            self.autoscaling_group_names[group.name] = aws.eks.get_node_group_output(
                cluster_name=args.cluster_name, node_group_name=self.node_group_names[group.name], opts=pulumi.InvokeOutputOptions(parent=self)
            ).apply(lambda g: g.resources[0].autoscaling_groups[0].name)

        self.cluster_name = args.cluster_name
        # Where pulumi_eks's own children live (the add-ons it made in earlier versions of this program).
        self.eks_urn = cluster.urn
        self.eks_name = f"{name}-eks"
        # The same name as an Output of the cluster: what addresses the EKS API by name (the
        # teams' access entries) then waits for the cluster to exist.
        self.api_cluster_name = cluster.cluster_security_group_id.apply(lambda _: args.cluster_name)
        # The security group EKS puts on the control plane's ENIs: what admits a client of the
        # private endpoint (the CI runner) on 443.
        self.cluster_security_group_id = cluster.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_provider_url = cluster.oidc_provider_url
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True, opts=child)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_provider_url": self.oidc_provider_url,
                "node_group_names": self.node_group_names,
                "autoscaling_group_names": self.autoscaling_group_names,
            }
        )
