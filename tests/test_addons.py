"""What every cluster runs under its workloads (infra/components/addons.py, infra/versions.py).

Specified here:
- the version table: every Kubernetes version row pins every add-on, the program's own
  Kubernetes version has a row, every pin is an EKS build (`vX.Y.Z-eksbuild.N`), and a
  missing row or a missing add-on stops the program with one exact line;
- per stack, the five EKS managed add-ons at their pinned versions, adopting what EKS
  bootstrapped (OVERWRITE) and preserved on delete; the Deployment add-ons (CoreDNS, EBS CSI)
  after every node group, the DaemonSet add-ons not; the EBS CSI driver after the Pod
  Identity agent, with its own Pod Identity role;
- pulumi_eks's own add-ons turned off on the cluster (these are the only ones);
- the EBS CSI role: Pod Identity trust for this account, AWS's managed policy, and the KMS
  statements on the stack's key only;
- the default StorageClass `gp3`: encrypted with the stack's key, bound where the pod
  lands, expandable, and Retain exactly where the stack keeps data on delete;
- the PriorityClass `platform-critical`, which Traefik runs at and waits for.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infra import versions
from infra.offline.harness import ROOT, run_program
from infra.versions import ADDON_VERSIONS, ADDONS, KUBERNETES_VERSION, addon_versions
from tests.conftest import STACKS, account, plan, stack_config

ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "eks:index:ManagedNodeGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS_BUILD = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")

# add-on -> whether it waits for the node groups (a Deployment: DEGRADED on a cluster
# without nodes until the 20-minute create timeout fails the update).
NEEDS_NODES = {
    "vpc-cni": False,
    "kube-proxy": False,
    "eks-pod-identity-agent": False,
    "coredns": True,
    "aws-ebs-csi-driver": True,
}

# What released volumes do, per stack: Retain where the stack keeps data on delete.
RECLAIM_POLICY = {"dev": "Delete", "staging": "Delete", "prod": "Retain"}


def _addon(p, stack: str, addon: str) -> dict:
    return p.named(ADDON, f"::platform-{stack}-addon-{addon}")


def _node_group_urns(p) -> set[str]:
    urns = {g["urn"] for g in p.of_type(NODE_GROUP)}
    assert urns, "no node group in the plan"
    return urns


# ---------------------------------------------------------------------- the version table


def test_the_kubernetes_version_has_a_row():
    assert KUBERNETES_VERSION in ADDON_VERSIONS


@pytest.mark.parametrize("kubernetes", sorted(ADDON_VERSIONS))
def test_every_row_pins_every_addon_and_nothing_else(kubernetes):
    assert sorted(ADDON_VERSIONS[kubernetes]) == sorted(ADDONS)


@pytest.mark.parametrize(("kubernetes", "addon"), [(k, a) for k in sorted(ADDON_VERSIONS) for a in ADDONS])
def test_every_pin_is_an_eks_build(kubernetes, addon):
    assert EKS_BUILD.match(ADDON_VERSIONS[kubernetes][addon]), ADDON_VERSIONS[kubernetes][addon]


def test_the_five_addons_in_creation_order():
    # DaemonSets first (healthy with no node), the Deployments last.
    assert ADDONS == ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")


FULL_ROW = {a: "v1.0.0-eksbuild.1" for a in ADDONS}


@pytest.mark.parametrize(
    ("table", "kubernetes", "message"),
    [
        (
            {"1.35": FULL_ROW, "1.33": FULL_ROW},
            "1.99",
            "no EKS add-on versions pinned for Kubernetes 1.99; add its row to ADDON_VERSIONS in infra/versions.py (pinned: 1.33, 1.35)",
        ),
        (
            {"1.35": {a: v for a, v in FULL_ROW.items() if a not in {"coredns", "aws-ebs-csi-driver"}}},
            "1.35",
            "Kubernetes 1.35: no version pinned for coredns, aws-ebs-csi-driver in infra/versions.py",
        ),
        (
            {"1.35": {a: v for a, v in FULL_ROW.items() if a != "vpc-cni"}},
            "1.35",
            "Kubernetes 1.35: no version pinned for vpc-cni in infra/versions.py",
        ),
    ],
    ids=["unknown-version", "row-missing-two-addons", "row-missing-one-addon"],
)
def test_an_incomplete_table_is_refused_with_its_line(monkeypatch, table, kubernetes, message):
    monkeypatch.setattr(versions, "ADDON_VERSIONS", table)
    with pytest.raises(ValueError) as err:
        addon_versions(kubernetes)
    assert str(err.value) == message


def test_a_complete_row_is_returned_as_pinned(monkeypatch):
    monkeypatch.setattr(versions, "ADDON_VERSIONS", {"1.35": FULL_ROW})
    assert dict(addon_versions("1.35")) == FULL_ROW


PROGRAM = """
from infra.components.addons import Addons, AddonsArgs

Addons("platform-dev", AddonsArgs(cluster_name="platform-dev", kubernetes_version={version!r}, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x"))
"""


def test_the_component_refuses_an_unpinned_kubernetes_version_before_creating_anything(tmp_path: Path):
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM.format(version="1.99"), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        run_program("dev", root=tmp_path)
    assert str(err.value).startswith("no EKS add-on versions pinned for Kubernetes 1.99; add its row to ADDON_VERSIONS in infra/versions.py (pinned: ")
    # Only the component itself: no role, no add-on.
    assert [r.type for r in err.value.registered] in ([], ["platform:addons:Addons"])


# ---------------------------------------------------------------------- the add-ons per stack


def test_exactly_the_five_pinned_addons(stack):
    p = plan(stack)
    pinned = ADDON_VERSIONS[KUBERNETES_VERSION]
    found = {a["urn"].rsplit("::", 1)[-1]: a["inputs"] for a in p.of_type(ADDON)}
    assert sorted(found) == sorted(f"platform-{stack}-addon-{addon}" for addon in ADDONS)
    for addon in ADDONS:
        inputs = found[f"platform-{stack}-addon-{addon}"]
        assert inputs["addonName"] == addon
        assert inputs["addonVersion"] == pinned[addon]
        assert inputs["clusterName"] == f"platform-{stack}" == p.outputs["cluster_name"]
        assert (inputs["resolveConflictsOnCreate"], inputs["resolveConflictsOnUpdate"]) == ("OVERWRITE", "OVERWRITE")
        assert inputs["preserve"] is True


@pytest.mark.parametrize(("addon", "needs_nodes"), sorted(NEEDS_NODES.items()))
def test_only_the_deployment_addons_wait_for_the_nodes(stack, addon, needs_nodes):
    p = plan(stack)
    groups = _node_group_urns(p)
    dependencies = set(_addon(p, stack, addon)["dependencies"])
    if needs_nodes:
        assert groups <= dependencies
    else:
        assert not groups & dependencies
        assert not [d for d in dependencies if f"${NODE_GROUP}::" in d]


def test_the_ebs_csi_driver_comes_after_the_pod_identity_agent_with_its_role(stack):
    p = plan(stack)
    ebs = _addon(p, stack, "aws-ebs-csi-driver")
    agent = _addon(p, stack, "eks-pod-identity-agent")
    role = p.named(ROLE, f"::platform-{stack}-ebs-csi-role")
    grants = {p.named(ROLE_POLICY, f"::platform-{stack}-ebs-csi-kms")["urn"], p.named(ATTACHMENT, f"::platform-{stack}-ebs-csi-policy")["urn"]}
    assert set(ebs["dependencies"]) == _node_group_urns(p) | {agent["urn"], role["urn"]} | grants
    assert ebs["inputs"]["podIdentityAssociations"] == [{"roleArn": role["outputs"]["arn"], "serviceAccount": "ebs-csi-controller-sa"}]
    # No other add-on carries a Pod Identity association.
    assert [a["urn"] for a in p.of_type(ADDON) if "podIdentityAssociations" in a["inputs"]] == [ebs["urn"]]


def test_pulumi_eks_adds_no_addon_of_its_own(stack):
    inputs = plan(stack).named("eks:index:Cluster", f"::platform-{stack}-eks")["inputs"]
    # useDefaultVpcCni: pulumi_eks creates its vpc-cni add-on unless it is true.
    assert inputs["useDefaultVpcCni"] is True
    # The options as recorded (the SDK fills in its conflict defaults); `enabled` is what counts.
    off = {"enabled": False, "resolveConflictsOnCreate": "OVERWRITE", "resolveConflictsOnUpdate": "OVERWRITE"}
    assert inputs["kubeProxyAddonOptions"] == off
    assert inputs["corednsAddonOptions"] == off


# ---------------------------------------------------------------------- the EBS CSI role


# What EKS Pod Identity needs to hand a pod the role: the service may assume it and tag the
# session, for this account's clusters only (which service account: the association's).
def pod_identity_trust(stack: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"StringEquals": {"aws:SourceAccount": account(stack)}},
            }
        ],
    }


def test_the_ebs_csi_role_is_a_pod_identity_role_of_this_account(stack):
    role = plan(stack).named(ROLE, f"::platform-{stack}-ebs-csi-role")["inputs"]
    assert json.loads(role["assumeRolePolicy"]) == pod_identity_trust(stack)
    assert role["description"] == f"platform-{stack}: EKS Pod Identity role of kube-system/ebs-csi-controller-sa"


def test_the_ebs_csi_role_has_the_managed_policy_and_the_stacks_key_only(stack):
    p = plan(stack)
    role = p.named(ROLE, f"::platform-{stack}-ebs-csi-role")
    attachment = p.named(ATTACHMENT, f"::platform-{stack}-ebs-csi-policy")["inputs"]
    assert attachment == {"policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy", "role": role["outputs"]["name"]}
    kms = p.named(ROLE_POLICY, f"::platform-{stack}-ebs-csi-kms")["inputs"]
    key_arn = p.outputs["kms_key_arn"]
    assert key_arn.startswith(f"arn:aws:kms:us-east-1:{account(stack)}:key/")
    assert kms["role"] == role["outputs"]["name"]
    assert json.loads(kms["policy"]) == {
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


# ---------------------------------------------------------------------- the StorageClass


def test_the_reclaim_table_is_the_stack_files_retain_on_delete():
    """Each stack file's protection.retain_on_delete (default true) is the table above."""
    retain = {s: (stack_config(s).get("platform:protection") or {}).get("retain_on_delete", True) for s in STACKS}
    assert {s: "Retain" if r else "Delete" for s, r in retain.items()} == RECLAIM_POLICY


def test_the_default_storage_class_is_encrypted_gp3(stack):
    p = plan(stack)
    storage = p.named(STORAGE_CLASS, f"::platform-{stack}-gp3")
    inputs = storage["inputs"]
    assert inputs["metadata"]["name"] == "gp3"
    assert inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert inputs["provisioner"] == "ebs.csi.aws.com"
    assert inputs["parameters"] == {"type": "gp3", "encrypted": "true", "kmsKeyId": p.outputs["kms_key_arn"], "csi.storage.k8s.io/fstype": "ext4"}
    assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert inputs["allowVolumeExpansion"] is True
    assert inputs["reclaimPolicy"] == RECLAIM_POLICY[stack]
    # The name is fixed and the policy immutable: a change replaces it, the old class first.
    assert storage["deleteBeforeReplace"] is True
    assert storage["replaceOnChanges"] == ["reclaimPolicy", "volumeBindingMode"]
    # Provisioned by the driver: created once the driver add-on exists.
    assert _addon(p, stack, "aws-ebs-csi-driver")["urn"] in storage["dependencies"]


def test_the_only_storage_class_is_the_default_one(stack):
    classes = plan(stack).of_type(STORAGE_CLASS)
    assert [c["inputs"]["metadata"]["name"] for c in classes] == ["gp3"]


# ---------------------------------------------------------------------- the PriorityClass


def test_the_platform_priority_class(stack):
    priority = plan(stack).named(PRIORITY_CLASS, f"::platform-{stack}-platform-priority")["inputs"]
    assert priority["metadata"]["name"] == "platform-critical"
    # Above every app pod (0), below the system classes (2,000,000,000+).
    assert priority["value"] == 100_000_000
    assert priority["globalDefault"] is False
    assert priority["preemptionPolicy"] == "PreemptLowerPriority"


def test_traefik_runs_at_the_platform_priority_and_waits_for_it(stack):
    p = plan(stack)
    priority = p.named(PRIORITY_CLASS, f"::platform-{stack}-platform-priority")
    traefik = p.named(RELEASE, f"::platform-{stack}-traefik")
    assert traefik["inputs"]["values"]["priorityClassName"] == priority["inputs"]["metadata"]["name"] == "platform-critical"
    assert priority["urn"] in traefik["dependencies"]


def test_a_reclaim_policy_change_is_a_replacement_offline():
    """The API server refuses an update of the reclaim policy (immutable); the resource's
    replaceOnChanges makes it a replacement, and the offline diff says so."""
    import copy

    from infra.review import diff

    base = plan("prod").data
    head = copy.deepcopy(base)
    (state,) = [s["newState"] for s in head["steps"] if s["urn"].endswith("::platform-prod-gp3")]
    state["inputs"]["reclaimPolicy"] = "Delete"
    (change,) = [c for c in diff.diff(base, head).changes if c.op != diff.SAME]
    assert (change.op, change.name, [i.path for i in change.inputs if i.force_new]) == (diff.REPLACE, "platform-prod-gp3", ["reclaimPolicy"])
    assert change.delete_before_replace is True


@pytest.mark.parametrize("stack", STACKS)
def test_vpc_cni_and_kube_proxy_adopt_what_pulumi_eks_made_before(stack):
    # Earlier versions of this program let pulumi_eks create these two as its own children
    # (nodejs/eks/cluster/cluster.ts: `${name}-kube-proxy` under the cluster, `${name}-vpc-cni`
    # inside its VpcCniAddon component). Without the aliases a deployed stack would create the
    # new add-ons first and EKS would answer 409 "Addon already exists".
    p = plan(stack)
    cluster = f"urn:pulumi:{stack}::platform::platform:cluster:Cluster$eks:index:Cluster"
    expected = {
        "kube-proxy": [f"{cluster}$aws:eks/addon:Addon::platform-{stack}-eks-kube-proxy"],
        "vpc-cni": [f"{cluster}$eks:index:VpcCniAddon$aws:eks/addon:Addon::platform-{stack}-eks-vpc-cni"],
    }
    for addon in ADDONS:
        assert [a for a in p.named(ADDON, f"::platform-{stack}-addon-{addon}")["aliases"] if a] == expected.get(addon, [])
