"""`python -m infra cost`: a stack's monthly cost, and the cost change of a pull request.

    cost --stack NAME [--format table|json|markdown]   the offline plan's `cost` output
    cost diff BASE HEAD [--stack NAME]                  a PR comment (markdown) of the change

`--stack` prices what the offline plan of `Pulumi.NAME.yaml` builds, i.e. the same `cost`
export a real `pulumi up` produces. `diff` reads two JSON files, each either an offline plan
(`{"outputs": {"cost": ...}}`), `pulumi stack output --json` (`{"cost": ...}`) or the cost
object itself; an empty BASE file stands for a stack that does not exist yet. The diff
informs the reviewer and never blocks: it exits 0 even over budget (the budget alerts and
the policy check are the guards), and non-zero only when it cannot read its input.

The renderers are pure functions of `infra.cost.model.estimate()`-shaped dicts.
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from infra.cost.model import totals_by_component

# A new total at or above this share of the budget gets a warning line before it is over.
NEAR_BUDGET = Decimal("0.90")

Cost = dict[str, Any]
Key = tuple[str, str, str]


# ---------------------------------------------------------------------------- numbers


def _d(value: float | int) -> Decimal:
    return Decimal(str(value))


def _cents(value: float | Decimal) -> Decimal:
    amount = value if isinstance(value, Decimal) else _d(value)
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def money(value: float | Decimal) -> str:
    """`$1,240.78`, `-$15.62`."""
    amount = _cents(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def signed_money(value: float | Decimal) -> str:
    """A difference: `+$77.38`, `-$12.00`, `$0.00`."""
    amount = _cents(value)
    if amount > 0:
        return f"+{money(amount)}"
    return money(amount) if amount < 0 else "$0.00"


UNPRICED = "unpriced"


def _unit_price(value: float | None) -> str:
    if value is None:
        return UNPRICED
    # Enough decimals for $0.01664/instance-hour, none of float's noise.
    text = f"{_d(value).normalize():f}"
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _quantity(value: float | int) -> str:
    text = f"{_d(value).normalize():f}"
    whole, dot, frac = text.partition(".")
    return f"{int(whole):,}{dot}{frac}" if whole not in {"-0", ""} else text


def _budget_share(cost: Cost) -> Decimal | None:
    budget = cost.get("budget")
    if not budget:
        return None
    return _d(cost["monthly_total"]) / _d(budget)


# ---------------------------------------------------------------------------- one stack


def render_table(cost: Cost, title: str | None = None) -> str:
    """Plain-text table for a terminal: lines grouped by component, subtotals, total vs budget."""
    rows: list[tuple[str, str, str, str]] = []
    subtotals = totals_by_component(cost)
    for component, subtotal in subtotals.items():
        rows.append((component, "", "", money(subtotal)))
        for item in (i for i in cost["items"] if i["component"] == component):
            usage = f"{_quantity(item['quantity'])} {item['unit']} x {_unit_price(item['unit_price'])}"
            rows.append((f"  {item['resource']}", item["item"], usage, _monthly(item["monthly"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = [_heading(cost, title), ""]
    for first, item, usage, monthly in rows:
        out.append(f"{first.ljust(widths[0])}  {item.ljust(widths[1])}  {usage.rjust(widths[2])}  {monthly.rjust(widths[3])}".rstrip())
    out += ["", f"Total: {money(cost['monthly_total'])}/month{_budget_clause(cost)}", *_range_note(cost), *_unpriced_note(cost)]
    return "\n".join(out)


def _range_note(cost: Cost) -> list[str]:
    """The autoscaler's range: every node group at min_size, and at max_size, against the budget."""
    span = cost.get("node_range")
    if not span:
        return []
    line = f"Node groups from min_size to max_size: {money(span['min'])} to {money(span['max'])}/month"
    budget = cost.get("budget")
    if budget:
        over = _d(span["max"]) > _d(budget)
        line += f"; at max_size {_d(span['max']) / _d(budget) * 100:.1f}% of the budget{' (over it)' if over else ''}"
    return [line + "."]


def _monthly(value: float | None) -> str:
    return UNPRICED if value is None else money(value)


def _unpriced_note(cost: Cost) -> list[str]:
    unpriced = cost.get("unpriced") or []
    if not unpriced:
        return []
    return [f"Unpriced: {len(unpriced)} of {len(cost['items'])} lines have no sourced {cost.get('region', '?')} list price; the total is a lower bound."]


def render_markdown(cost: Cost, title: str | None = None) -> str:
    """A markdown table of every line, with component subtotals and the total vs budget."""
    out = [f"### {_heading(cost, title)}", "", "| Component | Subtotal |", "|---|---:|"]
    out += [f"| {name} | {money(total)} |" for name, total in totals_by_component(cost).items()]
    out += [f"| **Total** | **{money(cost['monthly_total'])}** |", "", f"Budget: {_budget_text(cost)}", "", *(f"{line}\n" for line in _range_note(cost))]
    out += [*(f"> ⚠️ {line}" for line in _unpriced_note(cost)), *([""] if _unpriced_note(cost) else [])]
    out += ["| Component | Resource | Item | Quantity | Unit price | Monthly |", "|---|---|---|---:|---:|---:|"]
    for i in cost["items"]:
        out.append(f"| {i['component']} | {i['resource']} | {_md(i['item'])} | {_quantity(i['quantity'])} {i['unit']} | {_unit_price(i['unit_price'])} | {_monthly(i['monthly'])} |")
    return "\n".join(out)


def _heading(cost: Cost, title: str | None) -> str:
    prices_of = f"list prices as of {cost['prices_as_of']}" if cost.get("prices_as_of") else "no price catalogue"
    where = f"{cost.get('region', '?')}, {cost.get('currency', 'USD')} {prices_of}, {cost.get('hours_per_month', 730)} h/month"
    return f"Monthly cost{f' — {title}' if title else ''} ({where})"


def _budget_clause(cost: Cost) -> str:
    share = _budget_share(cost)
    return "" if share is None else f" of a {money(cost['budget'])} budget ({share * 100:.1f}%)"


def _budget_text(cost: Cost) -> str:
    share = _budget_share(cost)
    return "none" if share is None else f"{money(cost['budget'])}/month, {share * 100:.1f}% used by this estimate"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


# ---------------------------------------------------------------------------- diff


def extract_cost(document: Any, source: str = "input") -> Cost:
    """The cost object of an offline plan, of `pulumi stack output --json`, or the object itself."""
    if isinstance(document, dict):
        outputs = document.get("outputs")
        if isinstance(outputs, dict) and isinstance(outputs.get("cost"), dict):
            return outputs["cost"]
        if isinstance(document.get("cost"), dict):
            return document["cost"]
        if "items" in document and "monthly_total" in document:
            return document
    raise ValueError(f"{source}: no cost found; expected an offline plan ({{\"outputs\": {{\"cost\": ...}}}}), `pulumi stack output --json` ({{\"cost\": ...}}) or a cost object")


def _label(document: Any) -> str | None:
    """The stack or environment a document describes, when it says so."""
    if not isinstance(document, dict):
        return None
    outputs = document.get("outputs") if isinstance(document.get("outputs"), dict) else document
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    for value in (outputs.get("environment"), config.get("platform:environment"), document.get("stack")):
        if isinstance(value, str) and value:
            return value
    return None


def _keyed(cost: Cost | None) -> dict[Key, dict[str, Any]]:
    """Line items by (component, resource, item); repeated keys are summed, never dropped."""
    keyed: dict[Key, dict[str, Any]] = {}
    for item in (cost or {}).get("items", []):
        key = (item["component"], item["resource"], item["item"])
        if key in keyed:
            seen = keyed[key]
            keyed[key] = {**seen, "quantity": float(_d(seen["quantity"]) + _d(item["quantity"])), "monthly": float(_d(seen["monthly"] or 0) + _d(item["monthly"] or 0))}
        else:
            keyed[key] = item
    return keyed


def changed_items(base: Cost | None, head: Cost) -> list[dict[str, Any]]:
    """Added, removed and changed lines, biggest monthly difference first."""
    before, after = _keyed(base), _keyed(head)
    changes = []
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and all(old[f] == new[f] for f in ("quantity", "unit", "unit_price", "monthly")):
            continue
        old_monthly = _d(old["monthly"] or 0) if old else Decimal(0)
        new_monthly = _d(new["monthly"] or 0) if new else Decimal(0)
        change = "added" if old is None else "removed" if new is None else "changed"
        changes.append({"change": change, "key": key, "before": old_monthly if old else None, "after": new_monthly if new else None, "delta": new_monthly - old_monthly})
    changes.sort(key=lambda c: (-abs(c["delta"]), c["key"]))
    return changes


def render_diff(base: Cost | None, head: Cost, title: str | None = None) -> str:
    """The PR comment: totals before/after, the signed difference, changed lines, budget warnings."""
    old_total = _d(base["monthly_total"]) if base else Decimal(0)
    new_total = _d(head["monthly_total"])
    delta = new_total - old_total
    percent = f" ({delta / old_total * 100:+.1f}%)" if old_total else ""
    out = [f"### Cost change{f': {title}' if title else ''}", ""]
    out += ["| | Monthly |", "|---|---:|"]
    out.append(f"| Before | {money(old_total) if base else '— (new stack)'} |")
    out.append(f"| After | {money(new_total)} |")
    out.append(f"| Difference | **{signed_money(delta)}**{percent} |")
    if head.get("budget"):
        out.append(f"| Budget | {money(head['budget'])} ({new_total / _d(head['budget']) * 100:.1f}% used) |")
    out.append("")
    out += _warnings(base, head)
    changes = changed_items(base, head)
    if not changes:
        out.append("No line item changed.")
    else:
        out += [f"**Changed line items ({len(changes)})**", ""]
        out += ["| Change | Component | Resource | Item | Before | After | Difference |", "|---|---|---|---|---:|---:|---:|"]
        for c in changes:
            component, resource, item = c["key"]
            before = money(c["before"]) if c["before"] is not None else "—"
            after = money(c["after"]) if c["after"] is not None else "—"
            out.append(f"| {c['change']} | {component} | {resource} | {_md(item)} | {before} | {after} | {signed_money(c['delta'])} |")
    out += ["", f"_{head.get('region', '?')} list prices as of {head.get('prices_as_of', '?')}, {head.get('hours_per_month', 730)} h/month; estimate from `python -m infra cost`._"]
    return "\n".join(out)


def _warnings(base: Cost | None, head: Cost) -> list[str]:
    lines = []
    share = _budget_share(head)
    if share is not None:
        total, budget = _d(head["monthly_total"]), _d(head["budget"])
        if total > budget:
            lines.append(f"> ⚠️ **Over budget:** the new estimate {money(total)} is {money(total - budget)} above the {money(budget)} monthly budget.")
        elif share >= NEAR_BUDGET:
            lines.append(f"> ⚠️ **Near budget:** the new estimate uses {share * 100:.1f}% of the {money(budget)} monthly budget.")
    if base and base.get("budget") != head.get("budget"):
        lines.append(f"> The budget changed: {money(base.get('budget') or 0)} → {money(head.get('budget') or 0)}.")
    lines += [f"> ⚠️ {line}" for line in _unpriced_note(head)]
    if base and base.get("prices_as_of") != head.get("prices_as_of"):
        lines.append(f"> Prices changed ({base.get('prices_as_of')} → {head.get('prices_as_of')}): part of the difference is price, not sizing.")
    return [*lines, ""] if lines else []


def _read(path: str) -> Any:
    """A JSON document, or None for an empty file (the stack does not exist on the base branch)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text) if text.strip() else None


# ---------------------------------------------------------------------------- command


def run(args: Any) -> int:
    action = list(args.action or [])
    if action:
        if action[0] != "diff" or len(action) != 3:
            print("usage: python -m infra cost diff BASE HEAD   (or: python -m infra cost --stack NAME)", file=sys.stderr)
            return 2
        return _run_diff(action[1], action[2], args.stack)
    if not args.stack:
        print("python -m infra cost: --stack NAME is required (or: cost diff BASE HEAD)", file=sys.stderr)
        return 2
    from infra.offline.plan import PLAN_ERRORS, build_plan  # heavy (runs the program under mocks): only when asked

    try:
        cost = build_plan(args.stack)["outputs"].get("cost")
    except (FileNotFoundError, *PLAN_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(cost, dict):
        print(f"python -m infra cost: the plan of stack '{args.stack}' exports no cost", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(cost, indent=2))
    elif args.format == "markdown":
        print(render_markdown(cost, args.stack))
    else:
        print(render_table(cost, args.stack))
    return 0


def _run_diff(base_path: str, head_path: str, stack: str | None) -> int:
    try:
        base_doc, head_doc = _read(base_path), _read(head_path)
        if head_doc is None:
            raise ValueError(f"{head_path}: empty; HEAD must hold a plan or stack outputs")
        base = extract_cost(base_doc, base_path) if base_doc is not None else None
        head = extract_cost(head_doc, head_path)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"python -m infra cost diff: {exc}", file=sys.stderr)
        return 2
    print(render_diff(base, head, stack or _label(head_doc) or _label(base_doc)))
    return 0
