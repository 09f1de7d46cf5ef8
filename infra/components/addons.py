"""What every cluster runs under its workloads: the EKS managed add-ons, storage, priorities.

Creates:
- `{name}-addon-{addon}` for each of `ADDONS` (vpc-cni, kube-proxy, eks-pod-identity-agent,
  coredns, aws-ebs-csi-driver): an `aws.eks.Addon` at the version infra/versions.py pins for
  the cluster's Kubernetes version, adopting what EKS bootstrapped (OVERWRITE on create) and
  keeping the cluster's software if the add-on resource is ever deleted (`preserve`). The
  Deployment add-ons (coredns, aws-ebs-csi-driver) wait for the node groups: created on a
  cluster with no nodes they sit DEGRADED until the provider's 20-minute create timeout
  fails the update (pulumi/pulumi-eks#1819, #1525; terraform-aws-modules/terraform-aws-eks
  #3001). The DaemonSet add-ons are healthy with zero nodes and come first;
- `{name}-ebs-csi-role`: the EBS CSI controller's EKS Pod Identity role
  (`kube-system/ebs-csi-controller-sa`): AWS's AmazonEBSCSIDriverPolicy
  (`{name}-ebs-csi-policy`) plus the environment key, for encrypted volumes only
  (`{name}-ebs-csi-kms`, the EKS user guide's statement for a customer-managed key);
- `{name}-gp3`: the cluster's default StorageClass, `gp3`: EBS gp3 through the CSI driver,
  encrypted with the environment's KMS key, bound where the pod lands
  (`WaitForFirstConsumer`: an EBS volume lives in one AZ), expandable, and `Retain` when the
  stack keeps data on delete (`reclaim_retain`). EKS 1.30+ marks no StorageClass default
  (its in-tree gp2 class stays, unencrypted and not default);
- `{name}-platform-priority`: PriorityClass `platform-critical`, the priority of the
  platform's own pods outside kube-system (Traefik): app pods (priority 0) never preempt
  them, and the kubelet evicts them last under node pressure. kube-system's platform pods
  use Kubernetes' built-in `system-cluster-critical`.

Outputs: addon_versions (add-on -> version), storage_class_name, workload_dependencies (what
must exist before a release waits for its pods: the node groups, CoreDNS, the priority
class), pod_identity_agent (what a Pod Identity association's pods need first).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components._shared import PLATFORM_PRIORITY_CLASS, pod_identity_trust
from infra.versions import ADDONS, addon_versions

NEEDS_NODES = frozenset({"coredns", "aws-ebs-csi-driver"})

EBS_CSI_NAMESPACE = "kube-system"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
STORAGE_CLASS = "gp3"
# Above every app pod (0), below Kubernetes' system classes (2,000,000,000+); user-defined
# classes may go up to 1,000,000,000.
PLATFORM_PRIORITY = 100_000_000


def ebs_csi_kms_policy(key_arn: str) -> dict:
    """The EKS user guide's statements for EBS CSI volumes under a customer-managed key
    (storage/ebs-csi.adoc, "use a custom KMS key"): grants only for AWS resources, and the
    data-key operations, on this key only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GrantsForEbsOnly",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": [key_arn],
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            {
                "Sid": "EncryptVolumes",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": [key_arn],
            },
        ],
    }


@dataclass(frozen=True)
class AddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    kms_key_arn: pulumi.Input[str]
    # The node groups: what the Deployment add-ons (and every release) wait for.
    nodes: Sequence[pulumi.Resource] = ()
    # Whether released volumes keep their EBS volume (the stack's protection.retain_on_delete).
    reclaim_retain: bool = True
    # The pulumi_eks cluster component's URN and logical name (Cluster.eks_urn, .eks_name):
    # earlier versions of this program let pulumi_eks create vpc-cni and kube-proxy as its
    # own children; the aliases below adopt those add-ons in place (without them the new
    # add-on is created first and EKS answers 409 "Addon already exists").
    legacy_parent_urn: pulumi.Input[str] | None = None
    legacy_parent_name: str | None = None


def child_urn(parent_urn: str, child_type: str, child_name: str) -> str:
    """The URN the engine gives a child of `parent_urn`: the parent's type chain, then the
    child's type and name (pulumi/pulumi sdk resource.go, NewURN with a parent type)."""
    prefix, project, type_chain, _ = parent_urn.split("::", 3)
    return f"{prefix}::{project}::{type_chain}${child_type}::{child_name}"


def legacy_addon_aliases(addon: str, parent_urn: pulumi.Input[str], parent_name: str) -> list[pulumi.Alias]:
    """Where pulumi_eks (v4, nodejs/eks/cluster/cluster.ts) created the add-on: kube-proxy
    directly under the cluster (`<cluster>-kube-proxy`), vpc-cni inside its VpcCniAddon
    component (`<cluster>-vpc-cni`, the component and its Addon both so named; addons/cni-addon.ts)."""
    if addon == "kube-proxy":
        return [pulumi.Alias(name=f"{parent_name}-kube-proxy", parent=parent_urn)]
    if addon == "vpc-cni":
        component = pulumi.Output.from_input(parent_urn).apply(lambda u: child_urn(u, "eks:index:VpcCniAddon", f"{parent_name}-vpc-cni"))
        return [pulumi.Alias(name=f"{parent_name}-vpc-cni", parent=component)]
    return []


class Addons(pulumi.ComponentResource):
    addon_versions: Mapping[str, str]
    storage_class_name: str
    workload_dependencies: list[pulumi.Resource]
    pod_identity_agent: aws.eks.Addon

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:addons:Addons", name, None, opts)
        # validate
        versions = addon_versions(args.kubernetes_version)

        # derive
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        # children
        role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            description=f"{name}: EKS Pod Identity role of {EBS_CSI_NAMESPACE}/{EBS_CSI_SERVICE_ACCOUNT}",
            assume_role_policy=pod_identity_trust(account),
            opts=child,
        )
        grants = [
            aws.iam.RolePolicyAttachment(f"{name}-ebs-csi-policy", role=role.name, policy_arn=EBS_CSI_POLICY, opts=child),
            aws.iam.RolePolicy(
                f"{name}-ebs-csi-kms",
                role=role.id,
                policy=pulumi.Output.from_input(args.kms_key_arn).apply(lambda arn: json.dumps(ebs_csi_kms_policy(arn))),
                opts=child,
            ),
        ]

        created: dict[str, aws.eks.Addon] = {}
        for addon in ADDONS:
            waits_for: list[pulumi.Resource] = []
            if addon in NEEDS_NODES:
                waits_for += args.nodes
            if addon == "aws-ebs-csi-driver":
                # Its controller reads credentials through the agent, with the role's grants.
                waits_for += [created["eks-pod-identity-agent"], *grants]
            created[addon] = aws.eks.Addon(
                f"{name}-addon-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=versions[addon],
                # EKS bootstrapped a self-managed copy of vpc-cni, kube-proxy and CoreDNS with
                # the cluster: the add-on takes them over instead of failing on the conflict.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                # Removing the add-on from the program must not remove the cluster's DNS or
                # networking with it.
                preserve=True,
                pod_identity_associations=(
                    [aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=EBS_CSI_SERVICE_ACCOUNT)] if addon == "aws-ebs-csi-driver" else None
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=waits_for,
                    aliases=legacy_addon_aliases(addon, args.legacy_parent_urn, args.legacy_parent_name) if args.legacy_parent_urn is not None and args.legacy_parent_name else None,
                ),
            )

        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=STORAGE_CLASS,
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
                labels={"app.kubernetes.io/managed-by": "pulumi"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": args.kms_key_arn, "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain" if args.reclaim_retain else "Delete",
            # The API server refuses a change to the reclaim policy or binding mode (immutable
            # fields), where the provider would try an update: replace instead, the old class
            # first (the name is fixed). Existing volumes keep the policy they were made with.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[created["aws-ebs-csi-driver"]], replace_on_changes=["reclaimPolicy", "volumeBindingMode"], delete_before_replace=True
            ),
        )
        priority = k8s.scheduling.v1.PriorityClass(
            f"{name}-platform-priority",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PLATFORM_PRIORITY_CLASS, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            value=PLATFORM_PRIORITY,
            global_default=False,
            preemption_policy="PreemptLowerPriority",
            description="The platform's own pods (ingress, controllers): app pods never preempt them.",
            opts=child,
        )

        # outputs
        self.addon_versions = dict(versions)
        self.storage_class_name = STORAGE_CLASS
        self.pod_identity_agent = created["eks-pod-identity-agent"]
        self.workload_dependencies = [*args.nodes, created["coredns"], created["vpc-cni"], priority]
        self.register_outputs({"addon_versions": self.addon_versions, "storage_class_name": storage_class.metadata.name})
