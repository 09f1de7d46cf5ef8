"""The price catalogue: `prices.yaml` loaded into typed, read-only data.

Config validation asks it which instance classes exist (a class the catalogue does not
price is one the program refuses to create); the cost model asks it for prices. Neither
it nor its callers import a component.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PRICES_FILE = Path(__file__).with_name("us-east-1.yaml")


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
        return f"no price for {self.family} '{self.sku}' in {PRICES_FILE.name}"


@functools.cache
def load(path: Path = PRICES_FILE) -> Catalogue:
    with open(path, encoding="utf-8") as fh:
        return Catalogue.model_validate(yaml.safe_load(fh))


def hourly(family: Literal["ec2", "rds_postgres", "elasticache"], sku: str, catalogue: Catalogue | None = None) -> float:
    table = getattr(catalogue or load(), family)
    if sku not in table:
        raise MissingPrice(family, sku)
    return table[sku].hourly


def unit(name: str, catalogue: Catalogue | None = None) -> UnitPrice:
    table = (catalogue or load()).unit_prices
    if name not in table:
        raise MissingPrice("unit_prices", name)
    return table[name]
