"""The environment's front door: one internet-facing NLB, Traefik behind it, TLS and DNS.

ingress-nginx is retired (Kubernetes SIG Network, March 2026), so traffic enters through:
  Cloudflare DNS -> NLB (TLS ends here, ACM certificate) -> Traefik (routes Ingresses) -> pods.

Creates:
- `{name}-lbc-policy`: the AWS Load Balancer Controller's IAM policy, the upstream document
  checked in as `infra/components/policies/aws-load-balancer-controller.json`;
- `{name}-lbc-role` (+ `{name}-lbc-policy-attachment`): its IRSA role, assumable only through
  the cluster's OIDC provider by `system:serviceaccount:kube-system:aws-load-balancer-controller`
  with audience `sts.amazonaws.com`;
- `{name}-crd-<crd name, kebab>` (e.g. `{name}-crd-ingressroutes-traefik-io`): each chart's
  CustomResourceDefinitions, parsed from the copies vendored with the chart version under
  `infra/charts/<chart>/<version>/crds/` (see `MANAGED_CRDS`). Helm installs a chart's
  `crds/` on first install only and never upgrades them, so both releases skip them
  (`skip_crds`) and these resources carry them from version to version instead;
- `{name}-aws-load-balancer-controller`: the controller's Helm release (pinned), in kube-system;
- `{name}-traefik-ns` and `{name}-traefik`: Traefik's namespace (Pod Security `restricted`) and
  Helm release (pinned), with the chart's own Service turned off;
- `{name}-lb-sg`: the NLB's security group: 80 and 443 from anywhere (`{name}-lb-http`,
  `{name}-lb-https`), out only to Traefik's two ports inside the VPC. The controller adds the
  matching rules on the nodes' side, from this group only;
- `{name}-cert`: an ACM certificate for every API and web hostname, DNS-validated through
  `{name}-acm-<label>` CNAMEs in Cloudflare, waited for by `{name}-cert-validation`;
- `{name}-traefik-lb`: Traefik's `LoadBalancer` Service, written here (not by the chart) so its
  NLB annotations are reviewable in the plan and its `status.loadBalancer.ingress[0].hostname`
  is an output Pulumi waits for. TLS terminates at the NLB on 443 (the certificate above);
  port 80 reaches Traefik's `web` entrypoint, which redirects to https;
- `{name}-dns-<label>`: Cloudflare CNAMEs to the NLB: API records DNS-only (clients meet
  the NLB's certificate), web records proxied (Cloudflare CDN/WAF, TTL automatic).

Outputs: load_balancer_hostname, load_balancer_name, certificate_arn, lb_security_group_id,
controller_role_arn, api_url, web_url.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s
import yaml

from infra import runtime_config
from infra.components._shared import PLATFORM_PRIORITY_CLASS, irsa_trust_policy, pinned_release, zone_spread
from infra.config import DnsConfig

POLICY_DIR = Path(__file__).parent / "policies"
# Vendored chart files, infra/charts/<chart>/<version>/ (infra/charts/SOURCES.md).
CHARTS_DIR = Path(__file__).resolve().parent.parent / "charts"

# Pinned charts. Upgrade here (and the IAM policy file with the controller), then promote
# dev -> staging -> prod.
LBC_CHART = "aws-load-balancer-controller"
LBC_REPO = "https://aws.github.io/eks-charts"
LBC_CHART_VERSION = "3.5.0"  # controller v3.5.0
TRAEFIK_CHART = "traefik"
TRAEFIK_REPO = "https://traefik.github.io/charts"
TRAEFIK_CHART_VERSION = "41.2.0"  # Traefik v3.7.x

LBC_NAMESPACE = "kube-system"
LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"
# The chart's selector labels (_helpers.tpl selectorLabels: chart name, release name).
LBC_SELECTOR = {"app.kubernetes.io/name": "aws-load-balancer-controller", "app.kubernetes.io/instance": LBC_CHART}
TRAEFIK_NAMESPACE = "traefik"
TRAEFIK_RELEASE = "traefik"
TRAEFIK_SERVICE = "traefik"
# Traefik's entrypoints (container ports named after them) and where the NLB sends traffic.
TRAEFIK_PORTS = {"web": 8000, "websecure": 8443}
TRAEFIK_SELECTOR = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": TRAEFIK_RELEASE}
# TLS 1.3 and 1.2 only, forward secrecy (FSBP ELB.17 wants a current policy on NLB TLS listeners).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
WORLD = "0.0.0.0/0"
# Cloudflare: TTL 1 means "automatic" (required for proxied records).
API_TTL = 300
AUTO_TTL = 1

# The CRDs each chart's `crds/` ships that this program manages, as file-name patterns under
# infra/charts/<chart>/<version>/crds/ (only these files are vendored; SOURCES.md lists the
# skipped ones with their blobs). Helm itself would install every file of `crds/`, values or not.
MANAGED_CRDS: dict[str, tuple[str, ...]] = {
    # Traefik's own CRDs (IngressRoute, Middleware, TLSOption, ...): the `https-proto`
    # Middleware below is one. Not `hub.traefik.io_*` (15 files): Traefik Hub's kinds (API
    # management, AI gateway), read only with a Hub license (`hub.token`, unset here: the
    # chart grants its ClusterRole hub.traefik.io only then). The chart's `crds/` is not
    # templated, so Helm installs them even with Hub off; the repository's CRDs-only chart
    # (traefik-crds, deprecated since chart v38.0.2) leaves them out by default (`hub: false`).
    TRAEFIK_CHART: ("traefik.io_*.yaml",),
    # crds.yaml: IngressClassParams, TargetGroupBinding (the NLB's targets are these),
    # ALBTargetControlConfig and GlobalAccelerator, the controller's own kinds, the same set
    # upstream's crds/kustomization.yaml installs. Not gateway-crds.yaml (the gateway.k8s.aws
    # LoadBalancer/TargetGroup/ListenerRuleConfiguration kinds): 3.5.0's ALB/NLB Gateway API
    # feature gates default on but the controller turns them off at start when the Gateway
    # API's own CRDs (gateway.networking.k8s.io Gateway, GatewayClass, routes) are missing
    # (pkg/gateway/crddetect), and this platform installs none: Traefik routes Ingresses.
    LBC_CHART: ("crds.yaml",),
}
_KEBAB = re.compile(r"[^a-z0-9]+")


def controller_policy() -> dict[str, Any]:
    """The AWS Load Balancer Controller's IAM policy document (checked in, upstream's)."""
    return json.loads((POLICY_DIR / "aws-load-balancer-controller.json").read_text(encoding="utf-8"))


def chart_crds(chart: str, version: str, charts_dir: Path | None = None) -> list[dict[str, Any]]:
    """The managed CustomResourceDefinitions of one chart version, parsed from its vendored `crds/`.

    Files matching `MANAGED_CRDS[chart]`, in name order, every YAML document in each (empty
    documents skipped). Raises if the chart version has none vendored or a document is not a
    CRD: a version bump without its CRDs must not plan.
    """
    directory = (charts_dir or CHARTS_DIR) / chart / version / "crds"
    patterns = MANAGED_CRDS[chart]
    files = sorted(f for f in directory.glob("*") if f.is_file() and any(fnmatch.fnmatch(f.name, p) for p in patterns))
    if not files:
        raise ValueError(f"chart {chart} {version}: no CRDs vendored under {directory} (patterns {', '.join(patterns)})")
    out: list[dict[str, Any]] = []
    for path in files:
        for document in copy.deepcopy(_yaml_documents(str(path))):
            if document.get("kind") != "CustomResourceDefinition" or document.get("apiVersion") != "apiextensions.k8s.io/v1":
                raise ValueError(f"{path}: {document.get('apiVersion')} {document.get('kind')} is not an apiextensions.k8s.io/v1 CustomResourceDefinition")
            out.append(document)
    return out


@functools.lru_cache(maxsize=None)
def _yaml_documents(path: str) -> tuple[Any, ...]:
    """A file's non-empty YAML documents, parsed once per process (the CRDs are ~330 kB of YAML:
    libyaml's loader when PyYAML has it, else the pure-Python one, both YAML 1.1 safe loading)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = Path(path).read_text(encoding="utf-8")
    return tuple(d for d in yaml.load_all(text, Loader=loader) if d is not None)


def crd_suffix(crd_name: str) -> str:
    """`ingressroutes.traefik.io` -> `ingressroutes-traefik-io`: a CRD's logical-name part."""
    return _KEBAB.sub("-", crd_name.lower()).strip("-")


def crd_labels(chart: str, version: str) -> dict[str, str]:
    """The labels put on a chart's CRDs: its version, so a chart bump is an update of each CRD."""
    return {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": chart, "app.kubernetes.io/version": version, "helm.sh/chart": f"{chart}-{version}"}


def _role(host: str, domain: str) -> str:
    """A record's logical-name role: its label in the zone ("api-dev", "www", "apex").

    Kebab-case without dots, and independent of the domain, so moving the zone does not
    rename (delete and recreate) every record.
    """
    if host == f"*.{domain}":
        return "wildcard"
    return "apex" if host == domain else host.removesuffix(f".{domain}").replace(".", "-")


@dataclass(frozen=True)
class EdgeArgs:
    dns: DnsConfig
    # The EKS cluster's name (the controller tags and discovers by it); also names the NLB.
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    # The NLB lives in the public subnets (one per AZ).
    public_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    oidc_provider_arn: pulumi.Input[str]
    # The issuer URL, https://oidc.eks.<region>.amazonaws.com/id/<id>.
    oidc_provider_url: pulumi.Input[str]
    # Tags the controller puts on what it creates (NLB, target groups, its security groups).
    tags: Mapping[str, str] = field(default_factory=dict)
    traefik_replicas: int = 2
    # ClusterConfig.zone_spread: how Traefik's and the controller's replicas spread over the AZs.
    zone_spread: str = "required"
    # The cluster's managed node groups. Both releases wait for their pods to be ready (Helm
    # `--wait`, 300 s): started with the control plane, before any node has joined, they time
    # out. Everything that needs a running pod depends on these.
    nodes: Sequence[pulumi.Resource] = ()


class Edge(pulumi.ComponentResource):
    load_balancer_hostname: pulumi.Output[str]
    load_balancer_name: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]
    lb_security_group_id: pulumi.Output[str]
    controller_role_arn: pulumi.Output[str]
    api_url: str
    web_url: str

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:edge:Edge", name, None, opts)
        # validate
        if len(args.cluster_name) > 32:
            raise ValueError(f"cluster_name '{args.cluster_name}' is longer than 32 characters, the limit of an NLB name")
        if args.traefik_replicas < 1:
            raise ValueError("traefik_replicas must be at least 1")
        dns = args.dns
        hosts = runtime_config.certificate_names(dns)
        child = pulumi.ResourceOptions(parent=self)

        # ---------------------------------------------------------- AWS Load Balancer Controller
        policy = aws.iam.Policy(
            f"{name}-lbc-policy",
            description=f"{args.cluster_name}: AWS Load Balancer Controller (upstream policy, chart {LBC_CHART_VERSION})",
            policy=json.dumps(controller_policy()),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-lbc-role",
            description=f"{args.cluster_name}: IRSA role of {LBC_NAMESPACE}/{LBC_SERVICE_ACCOUNT}",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
                lambda a: json.dumps(irsa_trust_policy(a[0], a[1], LBC_NAMESPACE, LBC_SERVICE_ACCOUNT))
            ),
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(f"{name}-lbc-policy-attachment", role=role.name, policy_arn=policy.arn, opts=child)
        # Only the API server is needed: no depends_on the nodes.
        lbc_crds = self._crds(name, LBC_CHART, LBC_CHART_VERSION)
        controller = pinned_release(
            f"{name}-aws-load-balancer-controller",
            release=LBC_CHART,
            chart=LBC_CHART,
            version=LBC_CHART_VERSION,
            repo=LBC_REPO,
            namespace=LBC_NAMESPACE,
            # Its CRDs are `{name}-crd-*` (Helm would never upgrade them).
            skip_crds=True,
            values={
                "clusterName": args.cluster_name,
                # Explicit, so the controller never needs the instance metadata service
                # (the nodes' IMDS hop limit is 1: pods cannot reach it).
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                # A drain never takes both replicas (the chart renders it only with 2+).
                "podDisruptionBudget": {"maxUnavailable": 1},
                "topologySpreadConstraints": zone_spread(LBC_SELECTOR, args.zone_spread),
                # The chart's default, kept explicit: app pods never preempt the controller.
                "priorityClassName": "system-cluster-critical",
                "serviceAccount": {"create": True, "name": LBC_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
                # Only Services that ask for this controller get it (ours sets loadBalancerClass);
                # it does not take over every LoadBalancer Service in the cluster.
                "enableServiceMutatorWebhook": False,
                "defaultTags": dict(args.tags),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment, *lbc_crds, *args.nodes]),
        )

        # ---------------------------------------------------------- Traefik
        traefik_ns = k8s.core.v1.Namespace(
            f"{name}-traefik-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TRAEFIK_NAMESPACE,
                labels=runtime_config.pod_security_labels(),
            ),
            opts=child,
        )
        traefik_crds = self._crds(name, TRAEFIK_CHART, TRAEFIK_CHART_VERSION)
        traefik = pinned_release(
            f"{name}-traefik",
            release=TRAEFIK_RELEASE,
            chart=TRAEFIK_CHART,
            version=TRAEFIK_CHART_VERSION,
            repo=TRAEFIK_REPO,
            namespace=traefik_ns.metadata.name,
            # Its CRDs are `{name}-crd-*`; the chart's extraObjects Middleware needs them first.
            skip_crds=True,
            values=self._traefik_values(args.traefik_replicas, args.zone_spread),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*traefik_crds, *args.nodes]),
        )

        # ---------------------------------------------------------- the NLB's security group
        lb_sg = aws.ec2.SecurityGroup(
            f"{name}-lb-sg",
            vpc_id=args.vpc_id,
            description=f"{args.cluster_name} internet-facing NLB: 80/443 from anywhere, out to Traefik only",
            tags={"Name": f"{name}-lb"},
            opts=child,
        )
        for port, label in ((80, "http"), (443, "https")):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-lb-{label}",
                security_group_id=lb_sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=WORLD,
                description=f"{label.upper()} from the internet (the only world-open ports of the platform)",
                opts=child,
            )
        for entrypoint, port in TRAEFIK_PORTS.items():
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-lb-to-traefik-{entrypoint}",
                security_group_id=lb_sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=args.vpc_cidr,
                description=f"Traffic and health checks to Traefik's {entrypoint} entrypoint (pod IPs)",
                opts=child,
            )

        # ---------------------------------------------------------- TLS: ACM, validated through Cloudflare
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=hosts[0],
            subject_alternative_names=hosts[1:] or None,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            tags={"Name": f"{name}-edge"},
            opts=child,
        )
        validation_records = []
        # ACM validates `*.d` and `d` with one and the same CNAME: a second Cloudflare record of
        # that name would be refused as identical, so the wildcard's is made only without `d`.
        for host in [h for h in hosts if not (h.startswith("*.") and h[2:] in hosts)]:
            option = certificate.domain_validation_options.apply(lambda opts, h=host: next(o for o in opts if o.domain_name == h))
            validation_records.append(
                cloudflare.DnsRecord(
                    f"{name}-acm-{_role(host, dns.domain)}",
                    zone_id=dns.zone_id,
                    name=option.apply(lambda o: o.resource_record_name.rstrip(".")),
                    type=option.apply(lambda o: o.resource_record_type),
                    content=option.apply(lambda o: o.resource_record_value.rstrip(".")),
                    ttl=API_TTL,
                    # ACM must see the record itself, not Cloudflare's proxy.
                    proxied=False,
                    comment=f"{args.cluster_name}: ACM validation of {host}",
                    opts=child,
                )
            )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[r.name for r in validation_records],
            opts=child,
        )

        # ---------------------------------------------------------- Traefik's Service = the NLB
        annotations: dict[str, pulumi.Input[str]] = {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            "service.beta.kubernetes.io/aws-load-balancer-name": args.cluster_name,
            "service.beta.kubernetes.io/aws-load-balancer-subnets": pulumi.Output.from_input(args.public_subnet_ids).apply(lambda ids: ",".join(ids)),
            # The validated certificate: the Service waits until ACM has issued it.
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": validation.certificate_arn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": TLS_POLICY,
            "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
            # Our group, not one the controller invents; the controller only adds the
            # node-side rules (from this group, on Traefik's ports).
            "service.beta.kubernetes.io/aws-load-balancer-security-groups": lb_sg.id,
            "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules": "true",
        }
        service = k8s.core.v1.Service(
            f"{name}-traefik-lb",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TRAEFIK_SERVICE,
                namespace=traefik_ns.metadata.name,
                labels={**TRAEFIK_SELECTOR, "app.kubernetes.io/managed-by": "pulumi"},
                annotations=annotations,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                load_balancer_class="service.k8s.aws/nlb",
                selector=TRAEFIK_SELECTOR,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="web", port=80, target_port="web", protocol="TCP"),
                    k8s.core.v1.ServicePortArgs(name="websecure", port=443, target_port="websecure", protocol="TCP"),
                ],
            ),
            # The controller must be running to build the NLB (and outlive the Service on
            # destroy, so the NLB is deleted); Traefik's pods are its targets.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller, traefik]),
        )
        hostname = service.status.apply(lambda s: s.load_balancer.ingress[0].hostname)

        # ---------------------------------------------------------- DNS
        for record, proxied in [*((h, False) for h in runtime_config.api_hosts(dns)), *((h, True) for h in runtime_config.web_hosts(dns))]:
            cloudflare.DnsRecord(
                f"{name}-dns-{_role(record, dns.domain)}",
                zone_id=dns.zone_id,
                # The full name, also for the apex: "@" reads back as the zone name and would
                # show a change on every preview. CNAME at the apex is flattened by Cloudflare.
                name=record,
                type="CNAME",
                content=hostname,
                proxied=proxied,
                ttl=AUTO_TTL if proxied else API_TTL,
                comment=f"{args.cluster_name}: {'web (proxied)' if proxied else 'API (DNS-only)'} -> NLB",
                opts=child,
            )

        self.load_balancer_hostname = hostname
        # The NLB's name (the aws-load-balancer-name annotation), known only once the Service has
        # a hostname: a lookup by it (aws.lb.get_load_balancer) waits for the controller's NLB.
        self.load_balancer_name = hostname.apply(lambda _: args.cluster_name)
        self.certificate_arn = validation.certificate_arn
        self.lb_security_group_id = lb_sg.id
        self.controller_role_arn = role.arn
        self.api_url = runtime_config.api_url(dns)
        self.web_url = runtime_config.web_url(dns)
        self.register_outputs(
            {
                "load_balancer_hostname": self.load_balancer_hostname,
                "load_balancer_name": self.load_balancer_name,
                "certificate_arn": self.certificate_arn,
                "lb_security_group_id": self.lb_security_group_id,
                "controller_role_arn": self.controller_role_arn,
                "api_url": self.api_url,
                "web_url": self.web_url,
            }
        )

    def _crds(self, name: str, chart: str, version: str) -> list[k8s.apiextensions.v1.CustomResourceDefinition]:
        """One resource per vendored CRD of the chart version: upstream's metadata and spec, plus
        the version labels (a bump diffs as an update of every CRD, its spec included)."""
        out = []
        for crd in chart_crds(chart, version):
            metadata = dict(crd["metadata"])
            metadata["labels"] = {**(metadata.get("labels") or {}), **crd_labels(chart, version)}
            out.append(
                k8s.apiextensions.v1.CustomResourceDefinition(
                    f"{name}-crd-{crd_suffix(metadata['name'])}",
                    metadata=metadata,
                    spec=crd["spec"],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return out

    @staticmethod
    def _traefik_values(replicas: int, spread: str) -> dict[str, Any]:
        return {
            "deployment": {"replicas": replicas},
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
            "topologySpreadConstraints": zone_spread(TRAEFIK_SELECTOR, spread),
            # infra/components/addons.py's PriorityClass: app pods never preempt the ingress.
            "priorityClassName": PLATFORM_PRIORITY_CLASS,
            # Stable pod labels our Service selects on, whatever the chart's naming template.
            "instanceLabelOverride": TRAEFIK_RELEASE,
            # The Service (and so the NLB) is ours, see `{name}-traefik-lb`.
            "service": {"enabled": False},
            "ingressClass": {"enabled": True, "isDefaultClass": True, "name": "traefik"},
            "providers": {"kubernetesIngress": {"publishedService": {"enabled": True, "pathOverride": f"{TRAEFIK_NAMESPACE}/{TRAEFIK_SERVICE}"}}},
            # The chart's schema (infra/charts/traefik/41.2.0/values.schema.json) closes every
            # `ports.<entrypoint>` (additionalProperties: false): an entrypoint's redirect, TLS
            # and middlewares are its router settings and live under its `http` key, as in
            # Traefik's static config `entryPoints.<name>.http.*`, not beside `port`.
            "ports": {
                # Plain HTTP on 80 only ever answers with a redirect to https.
                "web": {"http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}}},
                # TLS already ended at the NLB: websecure receives plain HTTP from it, and tells
                # the app the client used https.
                "websecure": {"http": {"tls": {"enabled": False}, "middlewares": [f"{TRAEFIK_NAMESPACE}-https-proto@kubernetescrd"]}},
            },
            "extraObjects": [
                {
                    "apiVersion": "traefik.io/v1alpha1",
                    "kind": "Middleware",
                    "metadata": {"name": "https-proto", "namespace": TRAEFIK_NAMESPACE},
                    "spec": {"headers": {"customRequestHeaders": {"X-Forwarded-Proto": "https"}}},
                }
            ],
            # Pod Security `restricted` in the traefik namespace needs the seccomp profile too.
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            # Access logs are the top-level `accessLog` (the proxy's own log is `log`): the schema's
            # root is closed too (additionalProperties: false) and has no `logs` key.
            "accessLog": {"enabled": True},
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        }
