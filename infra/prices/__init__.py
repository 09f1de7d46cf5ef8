"""The price catalogue: one sourced list-price file per region (`<region>.yaml`), typed, read-only.

Config validation asks it which instance classes exist (a class no catalogue knows is one
the program refuses to create); the cost model asks it for a region's prices. A region's
file may lack a price nobody could source: the cost model then prints that line as
unpriced, never as a zero. A region without a file is planned with every line unpriced.
It imports nothing of the program.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PRICES_DIR = Path(__file__).parent
DEFAULT_REGION = "us-east-1"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HourlyPrice(_Frozen):
    hourly: float = Field(ge=0)
    source: str = Field(min_length=1)


class UnitPrice(_Frozen):
    price: float = Field(ge=0)
    unit: str
    source: str = Field(min_length=1)


class Catalogue(_Frozen):
    region: str
    currency: Literal["USD"]
    prices_as_of: str
    hours_per_month: int = Field(gt=0)
    spot_discount: float = Field(ge=0, lt=1)
    # An estimate, not a price: read only by the cost-lever report (scripts/cost_levers.py).
    valkey_discount: float = Field(ge=0, lt=1)
    ec2: dict[str, HourlyPrice]
    rds_postgres: dict[str, HourlyPrice]
    elasticache: dict[str, HourlyPrice]
    unit_prices: dict[str, UnitPrice]


class MissingPrice(KeyError):
    """A SKU the program would create has no price: never priced as zero."""

    def __init__(self, family: str, sku: str):
        super().__init__(f"{family}:{sku}")
        self.family = family
        self.sku = sku

    def __str__(self) -> str:
        return f"no price for {self.family} '{self.sku}'"


def regions() -> tuple[str, ...]:
    """The regions with a catalogue file, sorted."""
    return tuple(sorted(p.stem for p in PRICES_DIR.glob("*.yaml")))


@functools.cache
def load(region: str = DEFAULT_REGION) -> Catalogue:
    """The region's catalogue; MissingPrice("region", ...) when it has no file."""
    path = PRICES_DIR / f"{region}.yaml"
    if not path.exists():
        raise MissingPrice("region", region)
    with open(path, encoding="utf-8") as fh:
        catalogue = Catalogue.model_validate(yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    if catalogue.region != region:
        raise ValueError(f"{path.name} says region {catalogue.region!r}")
    return catalogue


def for_region(region: str) -> Catalogue | None:
    return load(region) if region in regions() else None


@functools.cache
def known_skus(family: Literal["ec2", "rds_postgres", "elasticache"]) -> frozenset[str]:
    """Every SKU of `family` any catalogue prices: the instance classes config accepts."""
    return frozenset(sku for region in regions() for sku in getattr(load(region), family))
