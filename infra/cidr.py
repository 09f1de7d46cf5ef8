"""The VPC's address plan: a pure function from (VPC CIDR, AZ count, tier sizes) to subnets.

Blocks are handed out largest first, so every subnet lands on its natural boundary with no
gap between them (power-of-two sizes sorted descending tile the space exactly). Within a
size, tiers keep the order given and AZs count up, so the plan is deterministic and the
first AZ's subnets never move when an AZ is added behind them... unless a larger tier's
blocks must shift the smaller ones: growing `az_count` re-addresses the smaller tiers, which
replaces those subnets. Choose the AZ count when the VPC is created.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class CidrError(ValueError):
    """A CIDR that cannot be parsed or a plan that does not fit."""


@dataclass(frozen=True)
class SubnetPlan:
    vpc: ipaddress.IPv4Network
    # tier -> one CIDR per AZ index, in AZ order
    tiers: dict[str, tuple[ipaddress.IPv4Network, ...]]

    def cidrs(self, tier: str) -> list[str]:
        return [str(n) for n in self.tiers[tier]]

    def all(self) -> list[ipaddress.IPv4Network]:
        return [n for nets in self.tiers.values() for n in nets]


def parse_network(value: str) -> ipaddress.IPv4Network:
    """Parse an IPv4 CIDR, refusing host bits (10.0.0.1/16 is almost always a typo)."""
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        reason = "has host bits set" if "host bits" in str(exc) else "is not an IPv4 CIDR like 10.20.0.0/16"
        raise CidrError(f"'{value}' {reason}") from None


def plan_subnets(vpc_cidr: str, az_count: int, tier_prefixes: dict[str, int]) -> SubnetPlan:
    """One subnet per tier per AZ, packed into `vpc_cidr`.

    Raises CidrError when the VPC is outside AWS's /16-/28 range, a tier is larger than the
    VPC, or the tiers do not fit.
    """
    vpc = parse_network(vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        raise CidrError(f"a VPC must be between /16 and /28, got /{vpc.prefixlen}")
    if az_count < 1:
        raise CidrError("az_count must be at least 1")
    for tier, prefix in tier_prefixes.items():
        if prefix < vpc.prefixlen:
            raise CidrError(f"{tier} subnets (/{prefix}) are larger than the VPC {vpc}")
        if prefix > 28:
            raise CidrError(f"{tier} subnets must be /28 or larger, got /{prefix}")
    needed = az_count * sum(2 ** (32 - p) for p in tier_prefixes.values())
    if needed > vpc.num_addresses:
        sizes = " + ".join(f"{tier} /{p}" for tier, p in tier_prefixes.items())
        raise CidrError(f"{vpc} ({vpc.num_addresses} addresses) cannot hold {az_count} AZs x ({sizes}) = {needed} addresses")

    order = sorted(tier_prefixes, key=lambda t: tier_prefixes[t])  # stable: equal sizes keep given order
    cursor = int(vpc.network_address)
    allocated: dict[str, list[ipaddress.IPv4Network]] = {t: [] for t in tier_prefixes}
    for tier in order:
        size = 2 ** (32 - tier_prefixes[tier])
        for _ in range(az_count):
            allocated[tier].append(ipaddress.IPv4Network((cursor, tier_prefixes[tier])))
            cursor += size
    return SubnetPlan(vpc=vpc, tiers={t: tuple(allocated[t]) for t in tier_prefixes})
