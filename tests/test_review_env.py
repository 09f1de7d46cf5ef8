"""Review environments' pure logic (infra/review_env.py) and marginal cost (infra/cost/review.py), as tables."""

from __future__ import annotations

import datetime

import pytest
import yaml

from infra import prices, review_env
from infra.config import parse
from infra.cost import review as review_cost
from infra.cost.model import estimate
from infra.review_env import Env, Eviction, ReviewConfig, ReviewConfigError

UTC = datetime.timezone.utc


def t(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "pr, api, web, expected",
    [
        (123, "api-dev.example.com", "dev.example.com",
         ("pr-123", "pr_123", "pr_123_app", "pr-123-api-dev.example.com", "pr-123-dev.example.com")),
        (1, "API-Dev.Example.com.", "dev.example.com",
         ("pr-1", "pr_1", "pr_1_app", "pr-1-api-dev.example.com", "pr-1-dev.example.com")),
        (999_999_999, "api-dev.a.example.co.uk", "dev.a.example.co.uk",
         ("pr-999999999", "pr_999999999", "pr_999999999_app", "pr-999999999-api-dev.a.example.co.uk", "pr-999999999-dev.a.example.co.uk")),
        # A long first label is cut, with a digest of the whole, to a 63-character DNS label.
        (42, "a" * 60 + ".example.com", "dev.example.com",
         ("pr-42", "pr_42", "pr_42_app", "pr-42-" + "a" * 48 + "-8837c18c.example.com", "pr-42-dev.example.com")),
    ],
)
def test_names(pr, api, web, expected):
    n = review_env.names(pr, api, web)
    assert (n.namespace, n.database, n.role, n.api_host, n.web_host) == expected
    assert len(n.api_host.split(".")[0]) <= review_env.DNS_LABEL_MAX
    assert max(len(n.database.encode()), len(n.role.encode())) <= review_env.PG_IDENTIFIER_MAX
    assert n.api_url == f"https://{expected[3]}"


def test_long_labels_stay_distinct():
    a = review_env.hostname(7, "x" * 70 + "-one.example.com")
    b = review_env.hostname(7, "x" * 70 + "-two.example.com")
    assert a != b and len(a.split(".")[0]) == 63 == len(b.split(".")[0])


@pytest.mark.parametrize(
    "stack, expected",
    [
        ("pr-123", 123),
        ("pr-1", 1),
        ("pr-999999999", 999_999_999),
        ("pr-0", "platform-review:stack: 'pr-0' is not a review stack name: pr-<pull request number> (1 to 999999999), e.g. pr-123"),
        ("pr-0123", "platform-review:stack: 'pr-0123' is not a review stack name: pr-<pull request number> (1 to 999999999), e.g. pr-123"),
        ("dev", "platform-review:stack: 'dev' is not a review stack name: pr-<pull request number> (1 to 999999999), e.g. pr-123"),
        ("pr-1000000000", "platform-review:stack: 'pr-1000000000' is not a review stack name: pr-<pull request number> (1 to 999999999), e.g. pr-123"),
    ],
)
def test_parse_pr(stack, expected):
    if isinstance(expected, int):
        assert review_env.parse_pr(stack) == expected
    else:
        with pytest.raises(ReviewConfigError) as err:
            review_env.parse_pr(stack)
        assert str(err.value) == expected


# ---------------------------------------------------------------------------- config

DEV = "organization/platform/dev"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"dev_stack": DEV}, ReviewConfig(dev_stack=DEV)),
        ({"dev_stack": DEV, "ttl_days": "3", "max_environments": "2", "teardown": "true"},
         ReviewConfig(dev_stack=DEV, ttl_days=3, max_environments=2, teardown=True)),
        ({"dev_stack": DEV, "cloudflare_api_token": "x", "cpu_millicores": 250, "memory_mib": "512", "database_storage_gb": "1"},
         ReviewConfig(dev_stack=DEV, cpu_millicores=250, memory_mib=512, database_storage_gb=1)),
        ({}, "platform-review:dev_stack: required: the dev stack's fully qualified name, e.g. organization/platform/dev"),
        ({"dev_stack": "dev"}, "platform-review:dev_stack: 'dev' is not a fully qualified stack name <organization>/<project>/<stack> (S3 backend: organization/platform/dev)"),
        ({"dev_stack": DEV, "ttl_days": "0"}, "platform-review:ttl_days: must be from 1 to 90 (days without a push before the daily job destroys it), not 0"),
        ({"dev_stack": DEV, "ttl_days": "seven"}, "platform-review:ttl_days: must be a whole number (days without a push before the daily job destroys it) from 1 to 90, not 'seven'"),
        ({"dev_stack": DEV, "ttl_days": "7.5"}, "platform-review:ttl_days: must be a whole number (days without a push before the daily job destroys it) from 1 to 90, not '7.5'"),
        ({"dev_stack": DEV, "max_environments": "21"}, "platform-review:max_environments: must be from 1 to 20 (review environments at once), not 21"),
        ({"dev_stack": DEV, "max_environments": True}, "platform-review:max_environments: must be a whole number (review environments at once) from 1 to 20, not True"),
        ({"dev_stack": DEV, "teardown": "yes"}, "platform-review:teardown: must be true or false, not 'yes'"),
        ({"dev_stack": DEV, "ttl": "7"}, "platform-review:ttl: unknown key; the review program reads cloudflare_api_token, cpu_millicores, database_storage_gb, dev_stack, max_environments, memory_mib, teardown, ttl_days"),
    ],
)
def test_parse_config(raw, expected):
    if isinstance(expected, ReviewConfig):
        assert review_env.parse_config(raw) == expected
    else:
        with pytest.raises(ReviewConfigError) as err:
            review_env.parse_config(raw)
        assert str(err.value) == expected


@pytest.mark.parametrize(
    "tier, environment, exported, expected",
    [
        ("development", "dev", "dev", None),
        ("development", "dev", None, None),
        ("staging", "staging", "staging", "platform-review:dev_stack: organization/platform/dev is a staging-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod"),
        ("production", "prod", "prod", "platform-review:dev_stack: organization/platform/dev is a production-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod"),
        (None, None, "dev", "platform-review:dev_stack: organization/platform/dev is a unknown-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod"),
        ("development", "dev", "prod", "platform-review:dev_stack: organization/platform/dev exports environment 'prod', not 'dev' as its stack file says: the reference is not that stack"),
    ],
)
def test_only_a_development_tier_stack_hosts_review_environments(tier, environment, exported, expected):
    if expected is None:
        review_env.check_development_tier(DEV, tier, environment, exported)
    else:
        with pytest.raises(ReviewConfigError) as err:
            review_env.check_development_tier(DEV, tier, environment, exported)
        assert str(err.value) == expected


# ---------------------------------------------------------------------------- TTL and cap


@pytest.mark.parametrize(
    "last_push, now, ttl_days, expected",
    [
        ("2026-11-25T12:00:00Z", "2026-12-02T11:59:59Z", 7, False),
        ("2026-11-25T12:00:00Z", "2026-12-02T12:00:00Z", 7, True),   # exactly the TTL: expired
        ("2026-11-25T12:00:00Z", "2026-12-09T12:00:00Z", 7, True),
        ("2026-12-01T23:00:00Z", "2026-12-02T01:00:00Z", 1, False),
        ("2026-12-01T00:00:00+01:00", "2026-12-01T23:00:00Z", 1, True),  # offsets compared in UTC
        ("2026-12-02T12:00:00Z", "2026-12-02T10:00:00Z", 1, False),  # a push "in the future" (clock skew)
    ],
)
def test_expired(last_push, now, ttl_days, expected):
    assert review_env.expired(t(last_push), t(now), ttl_days) is expected


def test_expired_refuses_naive_times():
    with pytest.raises(ValueError, match="has no time zone"):
        review_env.expired(datetime.datetime(2026, 12, 1), t("2026-12-02T00:00:00Z"), 7)


def cap_comment(pr: int, cap: int, when: str) -> str:
    return f"Review environment `pr-{pr}` destroyed: at most {cap} review environments run at once, and this one had the oldest push ({when}). Push again to recreate it."


@pytest.mark.parametrize(
    "envs, cap, expected",
    [
        ([], 5, []),
        ([(1, "2026-12-01T10:00:00Z"), (2, "2026-12-01T11:00:00Z")], 2, []),
        ([(1, "2026-12-01T10:00:00Z"), (2, "2026-12-01T09:00:00Z"), (3, "2026-12-01T11:00:00Z")], 2,
         [Eviction(2, "cap", cap_comment(2, 2, "2026-12-01 09:00 UTC"))]),
        ([(5, "2026-12-01T10:00:00Z"), (4, "2026-12-01T10:00:00Z"), (6, "2026-12-02T10:00:00Z")], 1,
         [Eviction(4, "cap", cap_comment(4, 1, "2026-12-01 10:00 UTC")), Eviction(5, "cap", cap_comment(5, 1, "2026-12-01 10:00 UTC"))]),
        ([(7, "2026-12-01T10:00:00Z")], 0, [Eviction(7, "cap", cap_comment(7, 0, "2026-12-01 10:00 UTC"))]),
    ],
)
def test_to_evict(envs, cap, expected):
    assert review_env.to_evict([Env(pr, t(when)) for pr, when in envs], cap) == expected


NOW = "2026-12-02T06:00:00Z"


@pytest.mark.parametrize(
    "envs, open_prs, incoming, expected",
    [
        # Closed first, then expired (ttl 7), then the cap (3) over what is left.
        ([(1, "2026-12-01T00:00:00Z"), (2, "2026-11-20T00:00:00Z"), (3, "2026-12-01T01:00:00Z"),
          (4, "2026-12-01T02:00:00Z"), (5, "2026-12-01T03:00:00Z"), (6, "2026-12-01T04:00:00Z")],
         [2, 3, 4, 5, 6], None,
         [(1, "closed"), (2, "expired"), (3, "cap")]),
        # A new pull request makes room for itself: cap 3, three exist, the oldest goes.
        ([(3, "2026-12-01T01:00:00Z"), (4, "2026-12-01T02:00:00Z"), (5, "2026-12-01T03:00:00Z")],
         [3, 4, 5, 9], 9,
         [(3, "cap")]),
        # An existing one updating counts itself once, and is never evicted by its own push.
        ([(3, "2026-12-01T01:00:00Z"), (4, "2026-12-01T02:00:00Z"), (5, "2026-12-01T03:00:00Z")],
         [3, 4, 5], 3,
         []),
        ([], [], None, []),
    ],
)
def test_collect(envs, open_prs, incoming, expected):
    got = review_env.collect([Env(pr, t(when)) for pr, when in envs], open_prs, t(NOW), ttl_days=7, cap=3, incoming=incoming)
    assert [(e.pr, e.reason) for e in got] == expected


def test_collect_comments():
    got = review_env.collect([Env(1, t("2026-11-01T00:00:00Z")), Env(2, t("2026-12-01T00:00:00Z"))], [1], t(NOW), ttl_days=7, cap=3)
    assert [e.comment for e in got] == [
        "Review environment `pr-1` destroyed: no push for 7 days (last 2026-11-01 00:00 UTC). Push again to recreate it.",
        "Review environment `pr-2` destroyed: the pull request is closed.",
    ]


# ---------------------------------------------------------------------------- cost


CATALOGUE = prices.load("us-east-1")


@pytest.mark.parametrize(
    "instance_type, capacity, cpu, mem, gb, expected_total, expected_lines",
    [
        # 500m of 2 vCPU = 25%, 1 GiB of 4 GiB = 25%: 0.25 x 730 h x 0.0416 x (1 - spot discount)
        ("t3.medium", "SPOT", 500, 1024, 2, 3.27, {"database": 0.23, "pods": 3.04, "dns": 0.0}),
        ("t3.medium", "ON_DEMAND", 500, 1024, 2, 7.82, {"database": 0.23, "pods": 7.59, "dns": 0.0}),
        # Memory is the larger share: 2 GiB of 4 = 50%.
        ("t3.medium", "ON_DEMAND", 250, 2048, 5, 15.76, {"database": 0.58, "pods": 15.18, "dns": 0.0}),
        # No known size: the pods' line is unpriced, never a zero; the total a lower bound.
        ("x9.huge", "ON_DEMAND", 500, 1024, 2, 0.23, {"database": 0.23, "pods": None, "dns": 0.0}),
    ],
)
def test_marginal_cost(instance_type, capacity, cpu, mem, gb, expected_total, expected_lines):
    cost = review_cost.marginal(CATALOGUE, instance_type=instance_type, capacity_type=capacity, cpu_millicores=cpu, memory_mib=mem, database_storage_gb=gb)
    assert cost["monthly_total"] == expected_total
    assert {line["item"]: line["monthly"] for line in cost["items"]} == expected_lines
    assert bool(cost["unpriced"]) is (expected_lines["pods"] is None)


def test_marginal_cost_summary():
    cost = review_cost.marginal(CATALOGUE, instance_type="t3.medium", capacity_type="SPOT", cpu_millicores=500, memory_mib=1024, database_storage_gb=2)
    assert review_cost.summary(cost) == "$3.27/month: database $0.23, pods $3.04, dns $0.00"


def test_every_priced_instance_type_has_a_size():
    assert set(CATALOGUE.ec2) <= set(review_cost.NODE_SIZES)


def dev_config():
    with open("Pulumi.dev.yaml", encoding="utf-8") as fh:
        raw = {k.split(":", 1)[1]: v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    return parse(raw, stack="dev", aws={"region": "us-east-1"})


def review_defaults() -> ReviewConfig:
    with open("review/Pulumi.yaml", encoding="utf-8") as fh:
        entries = yaml.safe_load(fh)["config"]
    raw = {k.split(":", 1)[1]: (v["value"] if isinstance(v, dict) else v) for k, v in entries.items() if k.startswith(f"{review_env.NAMESPACE}:")}
    return review_env.parse_config(raw)


def test_dev_with_the_maximum_of_review_environments_stays_within_its_budget():
    cfg = dev_config()
    review = review_defaults()
    group = cfg.cluster.node_groups[0]
    one = review_cost.marginal(
        prices.for_region(cfg.aws.region), instance_type=group.instance_types[0], capacity_type=group.capacity_type,
        cpu_millicores=review.cpu_millicores, memory_mib=review.memory_mib, database_storage_gb=review.database_storage_gb,
    )
    dev = estimate(cfg)
    assert not one["unpriced"]
    total = dev["monthly_total"] + review.max_environments * one["monthly_total"]
    assert total <= cfg.budget.monthly_limit_usd, f"dev ${dev['monthly_total']} + {review.max_environments} x ${one['monthly_total']} = ${total:.2f} > ${cfg.budget.monthly_limit_usd}"


def test_to_evict_with_room_for_one_more_names_the_cap():
    envs = [Env(1, t("2026-12-01T01:00:00Z")), Env(2, t("2026-12-01T02:00:00Z")), Env(3, t("2026-12-01T03:00:00Z"))]
    assert review_env.to_evict(envs, 3, room=2) == [Eviction(1, "cap", cap_comment(1, 3, "2026-12-01 01:00 UTC"))]
    assert review_env.to_evict(envs, 3, room=5) == []
