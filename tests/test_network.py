"""The network component's exact inputs, per committed stack."""

import json

import pytest

from tests.conftest import account, plan

SUBNET = "aws:ec2/subnet:Subnet"

EXPECTED = {
    "dev": {"cidr": "10.10.0.0/16", "azs": 2, "nats": 1, "private": ["10.10.0.0/19", "10.10.32.0/19"], "public": ["10.10.64.0/24", "10.10.65.0/24"], "isolated": ["10.10.66.0/24", "10.10.67.0/24"], "retention": 30},
    "staging": {"cidr": "10.20.0.0/16", "azs": 2, "nats": 1, "private": ["10.20.0.0/19", "10.20.32.0/19"], "public": ["10.20.64.0/24", "10.20.65.0/24"], "isolated": ["10.20.66.0/24", "10.20.67.0/24"], "retention": 90},
    "prod": {"cidr": "10.30.0.0/16", "azs": 3, "nats": 3, "private": ["10.30.0.0/19", "10.30.32.0/19", "10.30.64.0/19"], "public": ["10.30.96.0/24", "10.30.97.0/24", "10.30.98.0/24"], "isolated": ["10.30.99.0/24", "10.30.100.0/24", "10.30.101.0/24"], "retention": 365},
}
TIERS = ("public", "private", "isolated")
# Kubernetes finds its load balancers' subnets by these tags.
ROLE_TAGS = {"public": {"kubernetes.io/role/elb": "1"}, "private": {"kubernetes.io/role/internal-elb": "1"}, "isolated": {}}


def test_vpc(stack):
    vpc = plan(stack).named("aws:ec2/vpc:Vpc", f"platform-{stack}-vpc")
    assert vpc["inputs"]["cidrBlock"] == EXPECTED[stack]["cidr"]
    assert vpc["inputs"]["enableDnsHostnames"] is True and vpc["inputs"]["enableDnsSupport"] is True


def test_subnets_per_tier_and_az(stack):
    p, want = plan(stack), EXPECTED[stack]
    for tier in TIERS:
        for i in range(want["azs"]):
            inputs = p.named(SUBNET, f"platform-{stack}-{tier}-{i + 1}")["inputs"]
            assert inputs["cidrBlock"] == want[tier][i]
            assert inputs["tags"] == {"Name": f"platform-{stack}-{tier}-{i + 1}", "Tier": tier, **ROLE_TAGS[tier]}
    subnets = p.of_type(SUBNET)
    assert len(subnets) == 3 * want["azs"]
    assert all(s["inputs"]["mapPublicIpOnLaunch"] is False for s in subnets)
    azs = [p.named(SUBNET, f"platform-{stack}-private-{i + 1}")["inputs"]["availabilityZone"] for i in range(want["azs"])]
    assert azs == ["us-east-1a", "us-east-1b", "us-east-1c"][: want["azs"]]


def test_nat_gateways_follow_the_strategy(stack):
    p, want = plan(stack), EXPECTED[stack]
    nats = p.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == want["nats"] == len(p.of_type("aws:ec2/eip:Eip"))
    public_ids = {p.named(SUBNET, f"platform-{stack}-public-{i + 1}")["id"] for i in range(want["azs"])}
    assert {n["inputs"]["subnetId"] for n in nats} <= public_ids
    # each AZ's private route goes to its own NAT, or all to the shared one
    routes = [p.named("aws:ec2/route:Route", f"platform-{stack}-private-default-{i + 1}")["inputs"] for i in range(want["azs"])]
    nat_ids = [p.named("aws:ec2/natGateway:NatGateway", f"platform-{stack}-nat-{(i % want['nats']) + 1}")["id"] for i in range(want["azs"])]
    assert [r["natGatewayId"] for r in routes] == nat_ids
    assert all(r["destinationCidrBlock"] == "0.0.0.0/0" for r in routes)


def test_isolated_subnets_have_no_route_out(stack):
    p = plan(stack)
    isolated_rt = p.named("aws:ec2/routeTable:RouteTable", f"platform-{stack}-isolated-rt")
    assert [r for r in p.of_type("aws:ec2/route:Route") if r["inputs"]["routeTableId"] == isolated_rt["id"]] == []
    isolated_ids = {s["id"] for s in p.of_type(SUBNET) if s["inputs"]["tags"]["Tier"] == "isolated"}
    assocs = [a["inputs"] for a in p.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation") if a["inputs"]["subnetId"] in isolated_ids]
    assert len(assocs) == EXPECTED[stack]["azs"] and {a["routeTableId"] for a in assocs} == {isolated_rt["id"]}


def test_default_security_group_is_closed(stack):
    sg = plan(stack).named("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", f"platform-{stack}-default-sg")
    assert sg["inputs"]["ingress"] == [] and sg["inputs"]["egress"] == []


def test_flow_logs_go_to_an_encrypted_log_group_with_retention(stack):
    p = plan(stack)
    log_group = p.named("aws:cloudwatch/logGroup:LogGroup", f"platform-{stack}-flow-logs")
    key = p.named("aws:kms/key:Key", f"platform-{stack}-key")
    assert log_group["inputs"]["retentionInDays"] == EXPECTED[stack]["retention"]
    assert log_group["inputs"]["kmsKeyId"] == key["outputs"]["arn"]
    flow = p.named("aws:ec2/flowLog:FlowLog", f"platform-{stack}-flow-log")["inputs"]
    assert flow["trafficType"] == "ALL" and flow["logDestination"] == log_group["outputs"]["arn"]
    assert flow["logDestinationType"] == "cloud-watch-logs"
    # one-minute buckets, not the 10-minute default: incident timelines need the detail
    assert flow["maxAggregationInterval"] == 60
    assert flow["vpcId"] == p.named("aws:ec2/vpc:Vpc", "-vpc")["id"]
    trust = json.loads(p.named("aws:iam/role:Role", f"platform-{stack}-flow-logs-role")["inputs"]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": account(stack)}}


def test_nodes_security_group_admits_nothing_itself(stack):
    p = plan(stack)
    sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"platform-{stack}-nodes-sg")
    ingress = [r for r in p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r["inputs"]["securityGroupId"] == sg["id"]]
    assert ingress == []


def test_every_aws_resource_is_tagged_through_the_provider(stack):
    p = plan(stack)
    (provider,) = p.of_type("pulumi:providers:aws")
    assert provider["inputs"]["region"] == "us-east-1"
    tags = json.loads(provider["inputs"]["defaultTags"])["tags"] if isinstance(provider["inputs"]["defaultTags"], str) else provider["inputs"]["defaultTags"]["tags"]
    tier = {"dev": "development", "staging": "staging", "prod": "production"}[stack]
    assert tags == {"Project": "platform", "Environment": stack, "ManagedBy": "pulumi", "Tier": tier}
    aws_resources = [s for s in p.states if s["type"].startswith("aws:")]
    assert aws_resources and all(s["provider"].startswith(provider["urn"]) for s in aws_resources)


def test_kms_key_rotates_and_is_protected_only_where_data_must_survive(stack):
    key = plan(stack).named("aws:kms/key:Key", f"platform-{stack}-key")
    assert key["inputs"]["enableKeyRotation"] is True and key["inputs"]["deletionWindowInDays"] == 30
    # Retained wherever a deletion leaves snapshots encrypted with it (staging's final snapshots too).
    assert (key["protect"], key["retainOnDelete"]) == {"dev": (False, False), "staging": (False, True), "prod": (True, True)}[stack]


def test_network_outputs(stack):
    outputs = plan(stack).outputs
    assert outputs["vpc_id"].startswith("vpc-0")
    assert len(outputs["private_subnet_ids"]) == EXPECTED[stack]["azs"]
    assert all(s.startswith("subnet-0") for s in outputs["isolated_subnet_ids"])


def test_each_subnet_output_lists_exactly_its_tier_in_az_order(stack):
    """The internet-facing load balancer lands where `public_subnet_ids` says: never in a private subnet."""
    p, azs = plan(stack), EXPECTED[stack]["azs"]
    by_tier = {tier: [s for s in p.of_type(SUBNET) if s["inputs"]["tags"]["Tier"] == tier] for tier in TIERS}
    for tier in TIERS:
        in_order = [p.named(SUBNET, f"platform-{stack}-{tier}-{i + 1}") for i in range(azs)]
        assert sorted(s["urn"] for s in by_tier[tier]) == sorted(s["urn"] for s in in_order)
        assert p.outputs[f"{tier}_subnet_ids"] == [s["id"] for s in in_order]
        assert [s["inputs"]["cidrBlock"] for s in in_order] == EXPECTED[stack][tier]
    assert len({i for tier in TIERS for i in p.outputs[f"{tier}_subnet_ids"]}) == 3 * azs
