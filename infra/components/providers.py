"""The explicit providers: AWS for every AWS resource, Cloudflare for DNS.

Built from the stack's `aws:` config (region, assumed roles, profile) with the required
tags as provider default tags, so no resource can be created untagged or in the wrong
account. Default providers are disabled in Pulumi.yaml.
"""

from __future__ import annotations

import pulumi_aws as aws
import pulumi_cloudflare as cloudflare

from infra.config import StackConfig


def aws_provider(config: StackConfig) -> aws.Provider:
    tags = {**config.base_tags(), "Tier": config.tier}
    return aws.Provider(
        "aws",
        region=config.aws.region,
        assume_roles=[aws.ProviderAssumeRoleArgs(**_snake(role)) for role in config.aws.assume_roles] or None,
        profile=config.aws.profile,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )


def _snake(role: dict) -> dict:
    """`aws:assumeRoles` entries are camelCase in the stack file (roleArn, sessionName...)."""
    out = {}
    for key, value in role.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        out[snake] = value
    return out


def cloudflare_provider(config: StackConfig) -> cloudflare.Provider:
    """Cloudflare with the stack's secret API token (never the ambient environment's)."""
    return cloudflare.Provider("cloudflare", api_token=config.secrets["cloudflare_api_token"])
