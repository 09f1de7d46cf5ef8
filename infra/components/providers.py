"""The explicit providers: AWS for every AWS resource, Cloudflare for DNS.

Built from the stack's `aws:` config (region, assumed roles, profile) with the required
tags as provider default tags, so no resource can be created untagged or in the wrong
account. Default providers are disabled in Pulumi.yaml. A second AWS provider, `aws-<region>`,
exists only where a stack needs a service another region alone offers (us-east-1: Route 53's
health-check metrics).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare

from infra.config import PROJECT, ConfigError, StackConfig

# Where a user finds the right value.
ZONE_ID_HINT = "copy the Zone ID from the zone's Overview page in the Cloudflare dashboard (right column, API section)"


def aws_provider(config: StackConfig, region: str | None = None) -> aws.Provider:
    """The stack's AWS provider (`aws`), or with `region` another region's (`aws-<region>`), for
    what AWS offers in one region only (Route 53's health-check metrics, infra/components/uptime.py):
    the same account guard, roles and tags. Call it once per region; `region` equal to the stack's
    is the stack's own provider."""
    tags = {**config.base_tags(), "Tier": config.tier}
    region = region or config.aws.region
    return aws.Provider(
        "aws" if region == config.aws.region else f"aws-{region}",
        region=region,
        assume_roles=[aws.ProviderAssumeRoleArgs(**_snake(role)) for role in config.aws.assume_roles] or None,
        profile=config.aws.profile,
        # Credentials for another account fail at the first API call, before anything is built there.
        allowed_account_ids=[config.account.id],
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


def check_dns_zone(config: StackConfig, provider: cloudflare.Provider) -> None:
    """Stop, before any cloud resource exists, when `dns.zone_id` is not the domain's zone.

    A wrong id would otherwise surface at the first DNS record, after the VPC, EKS and RDS
    (most of an hour) were created. A synchronous lookup runs while the program registers its
    first resources (the providers), so nothing is created in AWS or Cloudflare yet. It lists
    the zones named `dns.domain` (GET /zones?name=...) instead of reading the zone by id: a
    failed invoke fails the whole program with the provider's error, a list is simply empty.
    """
    key = f"{PROJECT}:dns.zone_id"
    zone_id, domain = config.dns.zone_id, config.dns.domain
    zones = cloudflare.get_zones(name=domain, opts=pulumi.InvokeOptions(provider=provider)).results
    ids = sorted(z.id for z in zones)
    if zone_id not in ids:
        seen = f"its zone id is {', '.join(ids)}" if ids else "the API token sees no zone of that name"
        raise ConfigError(key, f"{zone_id} is not the Cloudflare zone of dns.domain {domain} ({seen}); {ZONE_ID_HINT}")
