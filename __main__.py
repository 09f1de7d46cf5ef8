"""One environment of the platform, from the stack's config: load, build, export."""

import pulumi

from infra import config as stack_config
from infra.keys import Keys, KeysArgs
from infra.network import Network, NetworkArgs
from infra.providers import aws_provider

cfg = stack_config.load()
aws = pulumi.ResourceOptions(providers={"aws": aws_provider(cfg)})

keys = Keys(cfg.name, KeysArgs(region=cfg.aws.region, protect=cfg.protection.protect, retain_on_delete=cfg.protection.retain_on_delete), opts=aws)
network = Network(cfg.name, NetworkArgs(config=cfg.network, kms_key_arn=keys.key_arn), opts=aws)

pulumi.export("environment", cfg.environment)
pulumi.export("vpc_id", network.vpc_id)
pulumi.export("public_subnet_ids", network.public_subnet_ids)
pulumi.export("private_subnet_ids", network.private_subnet_ids)
pulumi.export("isolated_subnet_ids", network.isolated_subnet_ids)
pulumi.export("kms_key_arn", keys.key_arn)
