"""What one review environment adds to dev's monthly bill: a pure function of its sizing.

`marginal(catalogue, ...)` prices, from the same catalogue the cost model reads
(`infra/prices/<region>.yaml`), only what a review environment adds inside dev:

- its database's share of dev's RDS gp3 storage (`platform-review:database_storage_gb`, a few
  GB; the instance itself is dev's and runs anyway);
- its pods' share of dev's nodes: the larger of its CPU and memory quota
  (`platform-review:cpu_millicores`, `memory_mib`, its namespace's ResourceQuota) as a
  fraction of one node of dev's first node group, times that node's hourly rate (SPOT less
  the catalogue's spot discount), all month: conservative, the off-hours sleep is not credited;
- its two Cloudflare DNS records: $0 (Free plan, as the cost model assumes for dev's own).

Lines are `quantity x unit_price = monthly`, rounded to cents, the total their sum (the cost
model's convention). A node type without a known size, or a price the catalogue lacks,
makes its line unpriced (None), never a zero. Imports no pulumi and no component.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from infra import prices

_CENT = Decimal("0.01")

# vCPUs and GiB of memory per instance type the catalogues price (AWS, "Amazon EC2 instance
# types", https://aws.amazon.com/ec2/instance-types/ : General Purpose tables).
NODE_SIZES: dict[str, tuple[int, int]] = {
    "t3.small": (2, 2),
    "t3.medium": (2, 4),
    "t3.large": (2, 8),
    "t4g.medium": (2, 4),
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "m6i.large": (2, 8),
    "m7i.large": (2, 8),
    "m6g.large": (2, 8),
    "m7g.large": (2, 8),
}


def node_share(instance_type: str, cpu_millicores: int, memory_mib: int) -> Decimal | None:
    """The fraction of one node the quota takes: max(CPU share, memory share); None if unknown."""
    size = NODE_SIZES.get(instance_type)
    if size is None:
        return None
    vcpus, gib = size
    return max(Decimal(cpu_millicores) / (1000 * vcpus), Decimal(memory_mib) / (1024 * gib))


def _line(item: str, what: str, quantity: Decimal, unit: str, unit_price: Decimal | None) -> dict[str, Any]:
    monthly = None if unit_price is None else (quantity * unit_price).quantize(_CENT, ROUND_HALF_UP)
    return {
        "item": item,
        "what": what,
        "quantity": float(quantity.quantize(Decimal("0.0001"))),
        "unit": unit,
        "unit_price": None if unit_price is None else float(unit_price),
        "monthly": None if monthly is None else float(monthly),
    }


def marginal(
    catalogue: prices.Catalogue | None,
    *,
    instance_type: str,
    capacity_type: str,
    cpu_millicores: int,
    memory_mib: int,
    database_storage_gb: int,
    dns_records: int = 2,
) -> dict[str, Any]:
    """The review environment's marginal monthly cost in dev (the PR comment and the stack output)."""
    hours = Decimal(catalogue.hours_per_month if catalogue else 730)
    lines = []

    storage = catalogue.unit_prices.get("rds_gp3_storage") if catalogue else None
    lines.append(_line(
        "database", f"its database's share of dev's RDS gp3 storage ({database_storage_gb} GB assumed, platform-review:database_storage_gb)",
        Decimal(database_storage_gb), "GB-month", Decimal(str(storage.price)) if storage else None,
    ))

    share = node_share(instance_type, cpu_millicores, memory_mib)
    on_demand = catalogue.ec2.get(instance_type) if catalogue else None
    rate = None
    if on_demand is not None:
        rate = Decimal(str(on_demand.hourly))
        if capacity_type == "SPOT":
            rate = rate * (1 - Decimal(str(catalogue.spot_discount)))  # type: ignore[union-attr]
    if share is None:
        rate = None
    spot = " SPOT (less the catalogue's spot discount)" if capacity_type == "SPOT" else " on-demand"
    lines.append(_line(
        "pods", f"its pods' share of a {instance_type}{spot} node: {cpu_millicores}m CPU / {memory_mib} MiB quota = "
        + (f"{float(share):.1%} of a node" if share is not None else "unknown node size") + ", all month",
        (share or Decimal(0)) * hours, "instance-hour", rate,
    ))
    lines.append(_line("dns", f"{dns_records} Cloudflare DNS records (Free plan)", Decimal(dns_records), "record", Decimal(0)))

    priced = [line["monthly"] for line in lines if line["monthly"] is not None]
    total = float(sum((Decimal(str(m)) for m in priced), Decimal(0)).quantize(_CENT))
    return {
        "currency": "USD",
        "region": catalogue.region if catalogue else None,
        "prices_as_of": catalogue.prices_as_of if catalogue else None,
        "items": lines,
        "monthly_total": total,
        "unpriced": [line["what"] for line in lines if line["monthly"] is None],
    }


def summary(cost: dict[str, Any]) -> str:
    """One line for the pull-request comment: `$3.41/month (...)`."""
    parts = ", ".join(f"{line['item']} ${line['monthly']:,.2f}" if line["monthly"] is not None else f"{line['item']} unpriced" for line in cost["items"])
    lower = " (lower bound: some lines unpriced)" if cost["unpriced"] else ""
    return f"${cost['monthly_total']:,.2f}/month{lower}: {parts}"
