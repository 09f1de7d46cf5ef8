"""What the cluster runs, pinned: the Kubernetes version and its EKS managed add-ons.

Data only, below the components that create them (infra/components/cluster.py, addons.py). Upgrade here, then promote
dev -> staging -> prod (README, "Changing a running environment").
"""

from __future__ import annotations

from collections.abc import Mapping

# One version for every stack, declared once. EKS standard support runs 14 months from
# release; 1.35 is covered into 2027.
KUBERNETES_VERSION = "1.35"

# The psql that runs the database roles' SQL (infra/components/db_roles.py): the major of
# RDS's engine (infra/components/database.py ENGINE_VERSION), from ECR Public's mirror of the
# Docker official image (no Docker Hub pull limit on the nodes' NAT address). A tag, not a
# digest: the digest was not read here; pin it with `crane digest` before relying on it.
POSTGRES_CLIENT_IMAGE = "public.ecr.aws/docker/library/postgres:17.6-alpine"

# In creation order; DaemonSets first (healthy with no node), Deployments last (need nodes).
ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")

# One row per Kubernetes version the program supports, every add-on pinned (tests/test_addons.py
# holds the rows complete and KUBERNETES_VERSION among them). Versions from
# awslabs/cdk-eks-blueprints@05d3dbd (2026-07-01), lib/addons/*/index.ts: what that project
# pins and tests per Kubernetes version. Confirm a new row with
# `aws eks describe-addon-versions --kubernetes-version <v> --addon-name <addon>` before
# committing it: EKS refuses a version it does not offer for the cluster's Kubernetes.
ADDON_VERSIONS: Mapping[str, Mapping[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.1",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.3",
        "aws-ebs-csi-driver": "v1.57.1-eksbuild.1",
    },
    "1.34": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "kube-proxy": "v1.34.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.12.3-eksbuild.1",
        "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
    },
}


def addon_versions(kubernetes_version: str) -> Mapping[str, str]:
    """Every add-on's pinned version for a Kubernetes version; raises ValueError if any is missing."""
    row = ADDON_VERSIONS.get(kubernetes_version)
    if row is None:
        raise ValueError(f"no EKS add-on versions pinned for Kubernetes {kubernetes_version}; add its row to ADDON_VERSIONS in infra/versions.py (pinned: {', '.join(sorted(ADDON_VERSIONS))})")
    missing = [a for a in ADDONS if a not in row]
    if missing:
        raise ValueError(f"Kubernetes {kubernetes_version}: no version pinned for {', '.join(missing)} in infra/versions.py")
    return row

# Thanos's query, store gateway and compactor (infra/components/monitoring.py): the image
# kube-prometheus-stack 88.5.3 gives the Prometheus pods' Thanos sidecar
# (prometheusOperator.thanosImage), so every Thanos component speaks the same version
# (tests/test_monitoring.py holds the two equal).
THANOS_IMAGE = "quay.io/thanos/thanos:v0.42.4"

# The anonymized copy's image (infra/components/data_copy.py): this repository's Python with
# its requirements, psql and the AWS CLI (Dockerfile), built and pushed by
# .github/workflows/data-image.yml into this ECR repository of the production account (the
# source stack creates it); the tag is config (platform:data_copy.image_tag), pinned per stack.
DATA_IMAGE_REPOSITORY = "platform-data"
# The image's user (Dockerfile USER): non-root, for Pod Security `restricted`.
DATA_IMAGE_UID = 10001


def data_image(account_id: str, region: str, tag: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/platform-data:<tag>`."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{DATA_IMAGE_REPOSITORY}:{tag}"
