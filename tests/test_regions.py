"""Any commercial region plans; where list prices are sourced it is priced, and the rest is
named as unpriced in the cost output, never a zero and never a crash."""

from __future__ import annotations

import pytest
import yaml

from infra import config, prices
from infra.config import ConfigError
from tests.conftest import STACKS, plan

# Sourced catalogues beside us-east-1: the seeds' team works from Madrid (eu-south-2) and
# Ireland (eu-west-1) is the usual EU region.
REGIONS = ("us-east-1", "eu-west-1", "eu-south-2")


def test_each_catalogue_is_its_region_and_every_price_has_a_source():
    assert set(REGIONS) <= set(prices.regions())
    for region in prices.regions():
        cat = prices.load(region)
        assert cat.region == region and cat.hours_per_month == 730
        entries = [*cat.ec2.values(), *cat.rds_postgres.values(), *cat.elasticache.values(), *cat.unit_prices.values()]
        assert entries and all(e.source.strip() for e in entries)


def test_a_region_without_a_catalogue_file_is_named():
    with pytest.raises(prices.MissingPrice) as err:
        prices.load("ap-southeast-7")
    assert str(err.value) == "no price for region 'ap-southeast-7'"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("region", REGIONS[1:])
def test_every_stack_plans_in_the_eu_regions(stack, region):
    p = plan(stack, **{"aws:region": region})
    cost = p.outputs["cost"]
    assert cost["region"] == region
    assert cost["monthly_total"] > 0
    priced = [i for i in cost["items"] if i["unit_price"] is not None]
    assert round(sum(i["monthly"] for i in priced), 2) == cost["monthly_total"]
    assert cost["unpriced"] == [f"{i['component']} {i['resource']}: {i['item']}" for i in cost["items"] if i["unit_price"] is None]
    # The instances, nodes and cache are priced in both regions (sourced figures).
    node_hours = [i for i in cost["items"] if i["resource"].startswith("node-group/") and i["unit"] == "instance-hour" and "off-hours" not in i["item"]]
    assert node_hours and all(i["unit_price"] is not None for i in node_hours)


@pytest.mark.parametrize(("region", "ec2", "redis", "db"), [("eu-west-1", 0.107, 0.036, 0.078)])
def test_eu_west_1_prices_staging_with_its_own_figures(region, ec2, redis, db):
    cost = plan("staging", **{"aws:region": region}).outputs["cost"]
    unit = {(i["resource"], i["unit"]): i["unit_price"] for i in cost["items"]}
    assert unit[("node-group/general", "instance-hour")] == ec2
    assert unit[("redis", "node-hour")] == redis
    assert unit[("postgres", "hour")] == db


def test_us_east_1_is_fully_priced(stack):
    assert plan(stack).outputs["cost"]["unpriced"] == []


def test_a_region_with_no_catalogue_plans_with_every_line_unpriced():
    cost = plan("staging", **{"aws:region": "ap-southeast-7"}).outputs["cost"]
    assert (cost["region"], cost["prices_as_of"], cost["monthly_total"]) == ("ap-southeast-7", None, 0)
    # 20, the 6 lines of the account's audit (staging owns it) and observability's 12: Prometheus, Loki, logs bucket,
    # Tempo, traces bucket, the buckets' PUTs, alarms, the destinations secret, 2 forwarder Lambda lines, 2 health check lines
    assert len(cost["unpriced"]) == len(cost["items"]) == 38
    assert cost["observability"]["monthly"] == 0


def test_an_instance_class_no_catalogue_knows_is_refused_at_config_load():
    with open("Pulumi.staging.yaml", encoding="utf-8") as fh:
        raw = {k.removeprefix("platform:"): v for k, v in yaml.safe_load(fh)["config"].items() if k.startswith("platform:")}
    raw["database"] = {**raw["database"], "instance_class": "db.z9.huge"}
    with pytest.raises(ConfigError) as err:
        config.parse(raw, stack="staging", aws={"region": "eu-west-1"})
    assert str(err.value).startswith("platform:database.instance_class: unknown RDS instance class 'db.z9.huge'; allowed: db.m5.large, ")
