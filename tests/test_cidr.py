"""The VPC address plan: exact layouts for the committed sizes, and properties for all."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.cidr import CidrError, plan_subnets

DEFAULT_TIERS = {"private": 19, "public": 24, "isolated": 24}


@pytest.mark.parametrize(
    ("vpc", "azs", "expected"),
    [
        (
            "10.20.0.0/16",
            2,
            {
                "private": ["10.20.0.0/19", "10.20.32.0/19"],
                "public": ["10.20.64.0/24", "10.20.65.0/24"],
                "isolated": ["10.20.66.0/24", "10.20.67.0/24"],
            },
        ),
        (
            "10.30.0.0/16",
            3,
            {
                "private": ["10.30.0.0/19", "10.30.32.0/19", "10.30.64.0/19"],
                "public": ["10.30.96.0/24", "10.30.97.0/24", "10.30.98.0/24"],
                "isolated": ["10.30.99.0/24", "10.30.100.0/24", "10.30.101.0/24"],
            },
        ),
    ],
)
def test_committed_layouts(vpc, azs, expected):
    plan = plan_subnets(vpc, azs, DEFAULT_TIERS)
    assert {tier: plan.cidrs(tier) for tier in expected} == expected


@pytest.mark.parametrize(
    ("vpc", "azs", "tiers", "message"),
    [
        ("10.0.0.0/18", 3, DEFAULT_TIERS, "10.0.0.0/18 (16384 addresses) cannot hold 3 AZs x (private /19 + public /24 + isolated /24) = 26112 addresses"),
        ("10.0.0.0/20", 2, DEFAULT_TIERS, "private subnets (/19) are larger than the VPC 10.0.0.0/20"),
        ("10.0.0.0/15", 2, DEFAULT_TIERS, "a VPC must be between /16 and /28, got /15"),
        ("10.0.0.1/16", 2, DEFAULT_TIERS, "'10.0.0.1/16' has host bits set"),
        ("10.0.0.0/33", 2, DEFAULT_TIERS, "'10.0.0.0/33' is not an IPv4 CIDR like 10.20.0.0/16"),
        ("banana", 2, DEFAULT_TIERS, "'banana' is not an IPv4 CIDR like 10.20.0.0/16"),
        ("10.0.0.0/24", 2, {"private": 23}, "private subnets (/23) are larger than the VPC 10.0.0.0/24"),
        ("10.0.0.0/16", 2, {"private": 29}, "private subnets must be /28 or larger, got /29"),
    ],
)
def test_bad_plans_say_why(vpc, azs, tiers, message):
    with pytest.raises(CidrError) as err:
        plan_subnets(vpc, azs, tiers)
    assert str(err.value) == message


tier_sizes = st.dictionaries(st.sampled_from(["private", "public", "isolated"]), st.integers(16, 28), min_size=1)


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(0, 2**32 - 1),
    vpc_prefix=st.integers(16, 28),
    azs=st.integers(1, 6),
    tiers=tier_sizes,
)
def test_any_plan_that_fits_is_disjoint_aligned_and_inside(base, vpc_prefix, azs, tiers):
    vpc = ipaddress.IPv4Network((base, vpc_prefix), strict=False)
    try:
        plan = plan_subnets(str(vpc), azs, tiers)
    except CidrError:
        needed = azs * sum(2 ** (32 - p) for p in tiers.values())
        assert needed > vpc.num_addresses or any(p < vpc_prefix for p in tiers.values())
        return
    subnets = plan.all()
    assert len(subnets) == azs * len(tiers)
    for tier, prefix in tiers.items():
        assert all(n.prefixlen == prefix for n in plan.tiers[tier])  # strict=True construction proves alignment
    assert all(n.subnet_of(vpc) for n in subnets)
    ordered = sorted(subnets, key=lambda n: int(n.network_address))
    assert all(a.broadcast_address < b.network_address for a, b in zip(ordered, ordered[1:]))


# The same inputs always give these exact blocks: largest tier first, equal sizes in the
# order given, AZs counting up, no gap.
@pytest.mark.parametrize(
    ("vpc", "azs", "tiers", "expected"),
    [
        (
            "10.10.0.0/16",
            2,
            DEFAULT_TIERS,
            {"private": ["10.10.0.0/19", "10.10.32.0/19"], "public": ["10.10.64.0/24", "10.10.65.0/24"], "isolated": ["10.10.66.0/24", "10.10.67.0/24"]},
        ),
        (
            "10.0.0.0/24",
            2,
            {"private": 26, "public": 28, "isolated": 28},
            {"private": ["10.0.0.0/26", "10.0.0.64/26"], "public": ["10.0.0.128/28", "10.0.0.144/28"], "isolated": ["10.0.0.160/28", "10.0.0.176/28"]},
        ),
        # a smaller tier named first still comes after the larger one
        ("10.0.0.0/16", 3, {"public": 24, "private": 19}, {"public": ["10.0.96.0/24", "10.0.97.0/24", "10.0.98.0/24"], "private": ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]}),
        # equal sizes keep the order given
        ("10.0.0.0/16", 2, {"public": 24, "isolated": 24}, {"public": ["10.0.0.0/24", "10.0.1.0/24"], "isolated": ["10.0.2.0/24", "10.0.3.0/24"]}),
        (
            "172.16.0.0/20",
            6,
            {"private": 23, "public": 27, "isolated": 27},
            {
                "private": ["172.16.0.0/23", "172.16.2.0/23", "172.16.4.0/23", "172.16.6.0/23", "172.16.8.0/23", "172.16.10.0/23"],
                "public": ["172.16.12.0/27", "172.16.12.32/27", "172.16.12.64/27", "172.16.12.96/27", "172.16.12.128/27", "172.16.12.160/27"],
                "isolated": ["172.16.12.192/27", "172.16.12.224/27", "172.16.13.0/27", "172.16.13.32/27", "172.16.13.64/27", "172.16.13.96/27"],
            },
        ),
        # a plan that fills the VPC exactly
        ("192.168.0.0/28", 1, {"private": 28}, {"private": ["192.168.0.0/28"]}),
    ],
)
def test_layouts_are_exact(vpc, azs, tiers, expected):
    plan = plan_subnets(vpc, azs, tiers)
    assert {tier: plan.cidrs(tier) for tier in tiers} == expected
    assert str(plan.vpc) == vpc
