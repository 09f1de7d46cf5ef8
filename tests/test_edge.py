"""Ingress, TLS and DNS per stack: the NLB, Traefik, the controller's IRSA role, ACM and Cloudflare."""

import hashlib
import ipaddress
import json

import pytest

from infra.components import edge
from tests.conftest import STACKS, plan, stack_config

RECORD = "cloudflare:index/dnsRecord:DnsRecord"
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
CERT = "aws:acm/certificate:Certificate"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ZONE = "0123456789abcdef0123456789abcdef"

# name -> proxied, per stack (the apex "@" is written as the zone name).
RECORDS = {
    "dev": {"api-dev.example.com": False, "dev.example.com": True},
    "staging": {"api-staging.example.com": False, "staging.example.com": True},
    "prod": {"api.example.com": False, "example.com": True, "www.example.com": True},
}
# What the certificate covers: the records, and in dev the review environments' wildcard.
HOSTS = {s: [*r, *(["*.example.com"] if s == "dev" else [])] for s, r in RECORDS.items()}
# sha256 of the AWS Load Balancer Controller's IAM policy (upstream's document, checked in
# as infra/components/policies/aws-load-balancer-controller.json), as canonical JSON.
CONTROLLER_POLICY_SHA256 = "bb9e48240ace4258c78d152ce98175ee6a118f0715faad4ff5a3e394c9d66171"


def canonical_sha256(document) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def dns_records(p):
    return {r["inputs"]["name"]: r["inputs"] for r in p.of_type(RECORD) if "-dns-" in r["urn"]}


def test_dns_records_per_stack(stack):
    p = plan(stack)
    records = dns_records(p)
    assert {name: r["proxied"] for name, r in records.items()} == RECORDS[stack]
    hostname = p.outputs["load_balancer_hostname"]
    assert hostname.endswith(".elb.us-east-1.amazonaws.com")
    for name, r in records.items():
        assert (r["type"], r["content"], r["zoneId"]) == ("CNAME", hostname, ZONE)
        # proxied: automatic TTL (required by Cloudflare); DNS-only: 5 minutes
        assert r["ttl"] == (1 if r["proxied"] else 300)


def test_api_records_are_dns_only_and_web_records_proxied():
    for stack in STACKS:
        records = dns_records(plan(stack))
        assert all(r["proxied"] is False for n, r in records.items() if n.startswith("api"))
        assert all(r["proxied"] is True for n, r in records.items() if not n.startswith("api"))


def label(host: str) -> str:
    return {"example.com": "apex", "*.example.com": "wildcard"}.get(host) or host.removesuffix(".example.com")


def test_certificate_covers_every_hostname_and_is_validated_through_cloudflare(stack):
    p = plan(stack)
    cert = p.named(CERT, f"platform-{stack}-cert")
    names = [cert["inputs"]["domainName"], *cert["inputs"].get("subjectAlternativeNames", [])]
    assert names == HOSTS[stack]
    assert cert["inputs"]["validationMethod"] == "DNS"
    options = {o["domainName"]: o for o in cert["outputs"]["domainValidationOptions"]}
    validation_records = [r for r in p.of_type(RECORD) if "-acm-" in r["urn"]]
    assert len(validation_records) == len(names)
    for host in names:
        r = p.named(RECORD, f"platform-{stack}-acm-{label(host)}")["inputs"]
        assert r["name"] == options[host]["resourceRecordName"].rstrip(".")
        assert r["content"] == options[host]["resourceRecordValue"].rstrip(".")
        assert (r["type"], r["proxied"], r["zoneId"]) == ("CNAME", False, ZONE)
    validation = p.named("aws:acm/certificateValidation:CertificateValidation", f"platform-{stack}-cert-validation")["inputs"]
    assert validation["certificateArn"] == cert["outputs"]["arn"]
    assert sorted(validation["validationRecordFqdns"]) == sorted(r["inputs"]["name"] for r in validation_records)


def test_helm_releases_are_pinned(stack):
    p = plan(stack)
    releases = {r["inputs"]["name"]: r["inputs"] for r in p.of_type(RELEASE)}
    pinned = {
        "aws-load-balancer-controller": ("aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts", "kube-system"),
        "traefik": ("traefik", "41.2.0", "https://traefik.github.io/charts", "traefik"),
        "cluster-autoscaler": ("cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler", "kube-system"),
        "metrics-server": ("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/", "kube-system"),
        # Observability (infra/components/monitoring.py, logs.py, traces.py, grafana.py).
        "grafana": ("grafana", "12.11.1", "https://grafana-community.github.io/helm-charts", "monitoring"),
        "loki": ("loki", "18.11.0", "https://grafana-community.github.io/helm-charts", "monitoring"),
        "alloy": ("alloy", "1.11.1", "https://grafana.github.io/helm-charts", "monitoring-agents"),
    }
    # dev observes logs only: no Prometheus stack, no Tempo.
    if stack != "dev":
        pinned["kube-prometheus-stack"] = ("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "monitoring")
        pinned["tempo"] = ("tempo", "2.2.4", "https://grafana-community.github.io/helm-charts", "monitoring")
    assert {name: (r["chart"], r["version"], r["repositoryOpts"]["repo"], r["namespace"]) for name, r in releases.items()} == pinned


def test_controller_values(stack):
    p = plan(stack)
    values = p.named(RELEASE, f"platform-{stack}-aws-load-balancer-controller")["inputs"]["values"]
    role = p.named("aws:iam/role:Role", f"platform-{stack}-lbc-role")
    assert values["clusterName"] == f"platform-{stack}" == p.outputs["cluster_name"]
    assert values["region"] == "us-east-1"
    assert values["vpcId"] == p.outputs["vpc_id"]
    assert values["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller", "annotations": {"eks.amazonaws.com/role-arn": role["outputs"]["arn"]}}
    assert values["enableServiceMutatorWebhook"] is False
    assert values["defaultTags"] == {"Project": "platform", "Environment": stack, "ManagedBy": "pulumi"}


def test_irsa_trust_policy(stack):
    p = plan(stack)
    oidc_arn = p.outputs["oidc_provider_arn"]
    issuer = oidc_arn.split(":oidc-provider/", 1)[1]
    trust = json.loads(p.named("aws:iam/role:Role", f"platform-{stack}-lbc-role")["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": oidc_arn}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }


def test_irsa_trust_policy_strips_the_scheme():
    doc = edge.irsa_trust_policy("arn:aws:iam::1:oidc-provider/oidc.example/id/X", "https://oidc.example/id/X", "ns", "sa")
    assert set(doc["Statement"][0]["Condition"]["StringEquals"]) == {"oidc.example/id/X:sub", "oidc.example/id/X:aud"}


def test_controller_policy_is_the_checked_in_document_and_attached(stack):
    p = plan(stack)
    policy = p.named("aws:iam/policy:Policy", f"platform-{stack}-lbc-policy")
    document = json.loads(policy["inputs"]["policy"])
    assert (document["Version"], len(document["Statement"])) == ("2012-10-17", 16)
    assert canonical_sha256(document) == CONTROLLER_POLICY_SHA256
    attachment = p.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"platform-{stack}-lbc-policy-attachment")["inputs"]
    assert attachment["policyArn"] == policy["outputs"]["arn"]
    assert attachment["role"] == p.named("aws:iam/role:Role", f"platform-{stack}-lbc-role")["outputs"]["name"]


def test_controller_policy_document_has_what_current_controllers_need():
    doc = edge.controller_policy()
    actions = {a for s in doc["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    # Without these two, controller v2.8+ stops reconciling / cannot create a load balancer.
    assert {"elasticloadbalancing:DescribeListenerAttributes", "ec2:GetSecurityGroupsForVpc"} <= actions
    assert all(s["Effect"] == "Allow" for s in doc["Statement"])
    assert "iam:*" not in actions and "*" not in actions
    # Creating and deleting is scoped to what the controller tagged as its own.
    deletes = [s for s in doc["Statement"] if "elasticloadbalancing:DeleteLoadBalancer" in s["Action"]]
    assert deletes and all("aws:ResourceTag/elbv2.k8s.aws/cluster" in s["Condition"]["Null"] for s in deletes)


def test_the_nlb_is_traefiks_service(stack):
    p = plan(stack)
    service = p.named(SERVICE, f"platform-{stack}-traefik-lb")
    validation = p.named("aws:acm/certificateValidation:CertificateValidation", f"platform-{stack}-cert-validation")
    lb_sg = p.named(SG, f"platform-{stack}-lb-sg")
    public_subnets = [s for s in p.of_type("aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["Tier"] == "public"]
    public_subnets.sort(key=lambda s: s["urn"])  # platform-<stack>-public-1, -2, -3
    meta, spec = service["inputs"]["metadata"], service["inputs"]["spec"]
    assert (meta["name"], meta["namespace"]) == ("traefik", "traefik")
    assert meta["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
        "service.beta.kubernetes.io/aws-load-balancer-name": f"platform-{stack}",
        "service.beta.kubernetes.io/aws-load-balancer-subnets": ",".join(s["id"] for s in public_subnets),
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": validation["inputs"]["certificateArn"],
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
        "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
        "service.beta.kubernetes.io/aws-load-balancer-security-groups": lb_sg["id"],
        "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules": "true",
    }
    assert spec["type"] == "LoadBalancer" and spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert [(x["port"], x["targetPort"]) for x in spec["ports"]] == [(80, "web"), (443, "websecure")]
    # ... built only once the controller runs, and deleted before it (so is the NLB)
    releases = {r["urn"] for r in p.of_type(RELEASE) if r["parent"] == service["parent"]}
    assert len(releases) == 2 and releases <= set(service["dependencies"])
    # the stack output is the Service's status hostname
    assert service["outputs"]["status"]["loadBalancer"]["ingress"][0]["hostname"] == p.outputs["load_balancer_hostname"]


def test_traefik_values(stack):
    p = plan(stack)
    values = p.named(RELEASE, f"platform-{stack}-traefik")["inputs"]["values"]
    service = p.named(SERVICE, f"platform-{stack}-traefik-lb")["inputs"]
    # the chart's Service is off; ours selects the chart's pods by their pinned labels
    assert values["service"] == {"enabled": False}
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": values["instanceLabelOverride"]}
    assert values["ports"]["web"] == {"http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}}}
    assert values["ports"]["websecure"] == {"http": {"tls": {"enabled": False}, "middlewares": ["traefik-https-proto@kubernetescrd"]}}
    assert values["accessLog"] == {"enabled": True} and "logs" not in values
    assert values["providers"]["kubernetesIngress"]["publishedService"] == {"enabled": True, "pathOverride": "traefik/traefik"}
    assert values["deployment"]["replicas"] >= 2 and values["podDisruptionBudget"]["enabled"] is True
    namespace = p.named("kubernetes:core/v1:Namespace", f"platform-{stack}-traefik-ns")["inputs"]["metadata"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def _world(cidr):
    return cidr is not None and ipaddress.ip_network(cidr).prefixlen == 0


def test_only_the_load_balancer_admits_the_world_and_only_on_80_and_443(stack):
    p = plan(stack)
    lb_sg = p.named(SG, f"platform-{stack}-lb-sg")
    world = [r["inputs"] for r in p.of_type(INGRESS) if _world(r["inputs"].get("cidrIpv4")) or _world(r["inputs"].get("cidrIpv6"))]
    assert sorted((r["securityGroupId"], r["ipProtocol"], r["fromPort"], r["toPort"]) for r in world) == [
        (lb_sg["id"], "tcp", 80, 80),
        (lb_sg["id"], "tcp", 443, 443),
    ]
    # nor through inline rules or the older rule resource
    inline = [rule for sg in p.of_type(SG) for rule in sg["inputs"].get("ingress") or []]
    assert not [rule for rule in inline if any(_world(c) for c in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])])]
    assert not [r for r in p.of_type("aws:ec2/securityGroupRule:SecurityGroupRule") if r["inputs"].get("type") == "ingress"]


def test_the_load_balancer_reaches_only_traefik_inside_the_vpc(stack):
    p = plan(stack)
    lb_sg = p.named(SG, f"platform-{stack}-lb-sg")
    vpc_cidr = p.named("aws:ec2/vpc:Vpc", f"platform-{stack}-vpc")["inputs"]["cidrBlock"]
    egress = sorted((r["inputs"]["ipProtocol"], r["inputs"]["fromPort"], r["inputs"]["toPort"], r["inputs"]["cidrIpv4"]) for r in p.of_type(EGRESS) if r["inputs"]["securityGroupId"] == lb_sg["id"])
    assert egress == [("tcp", 8000, 8000, vpc_cidr), ("tcp", 8443, 8443, vpc_cidr)]


def test_edge_resources_use_the_right_providers(stack):
    p = plan(stack)
    (k8s_provider,) = p.of_type("pulumi:providers:kubernetes")
    (cf_provider,) = p.of_type("pulumi:providers:cloudflare")
    assert cf_provider["inputs"]["apiToken"] == "[secret]"
    assert all(r["provider"].startswith(cf_provider["urn"]) for r in p.of_type(RECORD))
    kube = [s for s in p.states if s["type"].startswith("kubernetes:")]
    assert kube and all(s["provider"].startswith(k8s_provider["urn"]) for s in kube)


def test_urls_are_exported(stack):
    outputs = plan(stack).outputs
    api, web = HOSTS[stack][0], HOSTS[stack][1]
    assert (outputs["api_url"], outputs["web_url"]) == (f"https://{api}", f"https://{web}")


def test_a_wildcard_beside_its_apex_shares_the_apexs_validation_record():
    # ACM validates *.example.com and example.com with the same CNAME; Cloudflare refuses a twin.
    dns = {**stack_config("prod")["platform:dns"], "review_wildcard": True}
    with pytest.raises(Exception) as err:
        plan("prod", **{"platform:dns": dns})
    assert "platform:dns.review_wildcard: only a development tier hosts review environments" in str(err.value)
    dev_dns = {**stack_config("dev")["platform:dns"], "web_records": ["dev", "@"]}
    p = plan("dev", **{"platform:dns": dev_dns})
    names = [r["urn"].rsplit("::", 1)[1] for r in p.of_type(RECORD) if "-acm-" in r["urn"]]
    assert sorted(names) == ["platform-dev-acm-apex", "platform-dev-acm-api-dev", "platform-dev-acm-dev"]
