"""The environment's network: a VPC with public, private and isolated subnets across AZs.

Creates:
- `{name}-vpc` with DNS support, and `{name}-default-sg` taking over the VPC's default
  security group with no rules (FSBP EC2.2: nothing may fall back on it);
- per AZ i (1-based, index-named so a change of AZ never renames a subnet):
  `{name}-public-{i}` (load balancers, NAT gateways; no public IP on launch, FSBP EC2.15),
  `{name}-private-{i}` (nodes; egress through NAT), `{name}-isolated-{i}` (data stores;
  no route out of the VPC at all);
- `{name}-igw`, `{name}-public-rt` (0.0.0.0/0 to the internet gateway) and associations;
- NAT gateways `{name}-nat-{i}` with `{name}-nat-eip-{i}`: one shared, or one per AZ, and a
  `{name}-private-rt-{i}` per AZ routing to its AZ's gateway (or the shared one);
- `{name}-isolated-rt`: local routes only;
- `{name}-nodes-sg`: the security group every Kubernetes node carries; data stores admit
  it by id. It lives here, not in the cluster, so RDS and ElastiCache never wait ~15
  minutes for EKS to learn who their clients are; it allows all egress (nodes pull images
  and call AWS APIs through NAT) and no ingress of its own;
- VPC flow logs: `{name}-flow-logs` log group (retention, KMS), `{name}-flow-logs-role`
  (assumable only by the flow-logs service for this account), its policy, `{name}-flow-log`.

Outputs: vpc_id, vpc_cidr, availability_zones, the subnet ids per tier, node_security_group_id,
private_egress (the private subnets' NAT routes and their associations).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._shared import service_role_trust
from infra.config import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    # The CMK that encrypts the flow-log group.
    kms_key_arn: pulumi.Input[str]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    availability_zones: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    isolated_subnet_ids: pulumi.Output[list[str]]
    node_security_group_id: pulumi.Output[str]
    private_egress: list[pulumi.Resource]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:network:Network", name, None, opts)
        # validate / derive: the plan is pure and was already checked when the config loaded.
        cfg = args.config
        plan = cfg.subnet_plan()
        child = pulumi.ResourceOptions(parent=self)

        azs = aws.get_availability_zones_output(
            state="available",
            # Local and Wavelength zones are opt-in and lack most services.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).names.apply(lambda names: self._first_azs(names, cfg.az_count))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(plan.vpc),
            enable_dns_support=True,
            # RDS / ElastiCache endpoints and EKS private endpoint resolution need both.
            enable_dns_hostnames=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags={"Name": f"{name}-default-closed"}, opts=child)

        subnets: dict[str, list[aws.ec2.Subnet]] = {}
        # Tags that let Kubernetes load balancers find their subnets.
        role_tags = {"public": {"kubernetes.io/role/elb": "1"}, "private": {"kubernetes.io/role/internal-elb": "1"}, "isolated": {}}
        for tier in ("public", "private", "isolated"):
            subnets[tier] = [
                aws.ec2.Subnet(
                    f"{name}-{tier}-{i + 1}",
                    vpc_id=vpc.id,
                    cidr_block=block,
                    availability_zone=azs[i],
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-{tier}-{i + 1}", "Tier": tier, **role_tags[tier]},
                    opts=child,
                )
                for i, block in enumerate(plan.cidrs(tier))
            ]

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child)
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)
        for i, subnet in enumerate(subnets["public"]):
            aws.ec2.RouteTableAssociation(f"{name}-public-rta-{i + 1}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child)

        nat_count = 1 if cfg.nat_gateways == "single" else cfg.az_count
        nats = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{i + 1}", domain="vpc", tags={"Name": f"{name}-nat-{i + 1}"}, opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i + 1}",
                    allocation_id=eip.id,
                    subnet_id=subnets["public"][i].id,
                    tags={"Name": f"{name}-nat-{i + 1}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        # The private subnets' way out. Nodes pull images and the load balancer controller calls
        # the ELB API through it; what runs on the nodes depends on it, so that a destroy
        # removes the Service's NLB (the controller clears its finalizer) before the egress.
        egress: list[pulumi.Resource] = []
        for i, subnet in enumerate(subnets["private"]):
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i + 1}", vpc_id=vpc.id, tags={"Name": f"{name}-private-{i + 1}"}, opts=child)
            route = aws.ec2.Route(f"{name}-private-default-{i + 1}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % nat_count].id, opts=child)
            association = aws.ec2.RouteTableAssociation(f"{name}-private-rta-{i + 1}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            egress += [route, association]

        isolated_rt = aws.ec2.RouteTable(f"{name}-isolated-rt", vpc_id=vpc.id, tags={"Name": f"{name}-isolated"}, opts=child)
        for i, subnet in enumerate(subnets["isolated"]):
            aws.ec2.RouteTableAssociation(f"{name}-isolated-rta-{i + 1}", subnet_id=subnet.id, route_table_id=isolated_rt.id, opts=child)

        nodes_sg = aws.ec2.SecurityGroup(
            f"{name}-nodes-sg",
            vpc_id=vpc.id,
            description="Kubernetes nodes: data stores admit this group on their port",
            tags={"Name": f"{name}-nodes"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-nodes-egress",
            security_group_id=nodes_sg.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="Nodes reach image registries and AWS APIs through NAT",
            opts=child,
        )

        self._flow_logs(name, cfg, vpc, args.kms_key_arn)

        self.vpc_id = vpc.id
        self.vpc_cidr = str(plan.vpc)
        self.availability_zones = azs
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["public"]])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["private"]])
        self.isolated_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["isolated"]])
        self.node_security_group_id = nodes_sg.id
        self.private_egress = egress
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_cidr": self.vpc_cidr,
                "availability_zones": self.availability_zones,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "isolated_subnet_ids": self.isolated_subnet_ids,
                "node_security_group_id": self.node_security_group_id,
            }
        )

    @staticmethod
    def _first_azs(names: list[str], count: int) -> list[str]:
        if len(names) < count:
            raise pulumi.RunError(f"platform:network.az_count: {count} AZs requested but the region offers {len(names)} ({', '.join(names)})")
        return sorted(names)[:count]

    def _flow_logs(self, name: str, cfg: NetworkConfig, vpc: aws.ec2.Vpc, kms_key_arn: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=cfg.flow_logs_retention_days,
            kms_key_id=kms_key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=service_role_trust("vpc-flow-logs.amazonaws.com", account),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            "Resource": [log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type=cfg.flow_logs_traffic,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            # One-minute aggregation: incident timelines need better than 10-minute buckets.
            max_aggregation_interval=60,
            tags={"Name": f"{name}-flow-log"},
            opts=child,
        )
