"""`python -m infra review plan|gc|comment`: review environments, offline (docs/review-environments.md).

    review plan --pr N [--json]     the review program (review/__main__.py) under the mocks
                                    harness for stack pr-N, its StackReference answered by
                                    dev's offline plan: the resources it creates, its cost
    review gc --stacks FILE --open-prs FILE [--now ISO] [--incoming N] [--format text|json|tsv]
                                    which review environments to destroy now (closed pull
                                    request, past the TTL, over the cap) and the comment each
                                    pull request gets; TTL and cap from the review program's
                                    config (review/Pulumi.yaml)
    review comment --outputs FILE   the pull request's comment from `pulumi stack output --json`
                                    of the review stack: URLs and marginal cost

Reads programs' registrations and config, never a component.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

from infra import review_env
from infra.offline.harness import ROOT, placeholder, read_project_config, reference_of, run_program, secret_values_of
from infra.offline.plan import PLAN_ERRORS, resource_lines, to_preview_json

REVIEW_DIR = ROOT / "review"
PROJECT = review_env.NAMESPACE
TOKEN_KEY = f"{PROJECT}:cloudflare_api_token"
COMMENT_MARKER = "<!-- review-environment -->"


def review_config(stack: str = "pr-1", overrides: dict[str, Any] | None = None, program: Path = REVIEW_DIR) -> review_env.ReviewConfig:
    """The review program's validated config, as its stacks get it (project values, stack file, overrides)."""
    values = read_project_config(program, stack, overrides).values
    prefix = f"{PROJECT}:"
    return review_env.parse_config({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and k != TOKEN_KEY})


def run_review(pr: int, overrides: dict[str, Any] | None = None, dev_overrides: dict[str, Any] | None = None, program: Path = REVIEW_DIR):
    """(dev's run, the review run) of stack pr-<pr>, the second reading the first's outputs."""
    stack = f"pr-{pr}"
    stack_file = read_project_config(program, stack, overrides, secrets={TOKEN_KEY: placeholder(TOKEN_KEY)})
    dev_stack = str(stack_file.values.get(f"{PROJECT}:dev_stack") or "")
    dev_name = dev_stack.rsplit("/", 1)[-1] or "dev"
    dev_run = run_program(dev_name, overrides=dev_overrides)
    account = dev_run.stack_file.values.get("platform:account")
    account_id = str(account["id"]) if isinstance(account, dict) and "id" in account else None
    run = run_program(
        stack,
        root=ROOT,
        program=program,
        project=PROJECT,
        stack_file=stack_file,
        stack_references={dev_stack: reference_of(dev_run)} if dev_stack else {},
        secret_values=secret_values_of(dev_run),
        account_id=account_id,
        cloudflare_zones={},
    )
    return dev_run, run


def build_review_plan(pr: int, overrides: dict[str, Any] | None = None, dev_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return to_preview_json(run_review(pr, overrides, dev_overrides)[1])


def render(plan: dict[str, Any], stack: str) -> str:
    lines = [f"Offline plan of review stack '{stack}' against dev's offline plan (mocks: no credentials, no network, nothing deployed)", "", *resource_lines(plan)]
    out = plan["outputs"]
    lines += ["", "Review environment"]
    if "dev_stack" in out:
        lines.append(f"  reads      dev's outputs through StackReference {out['dev_stack']} (read, not created)")
    for label, key in (("namespace", "namespace"), ("database", "database"), ("role", "database_role"), ("API", "api_url"), ("web", "web_url"), ("db job", "job_name")):
        if key in out:
            lines.append(f"  {label:<10} {out[key]}")
    cost = out.get("cost")
    if isinstance(cost, dict):
        lines += ["", f"Marginal monthly cost in dev: ${cost['monthly_total']:,.2f} {cost['currency']} ({cost['region']} list prices as of {cost['prices_as_of']})"]
        for item in cost["items"]:
            amount = f"${item['monthly']:,.2f}" if item["monthly"] is not None else "unpriced"
            lines.append(f"  {item['item']:<9} {amount:>9}  {item['what']}")
    lines += ["", "Outputs: " + ", ".join(sorted(out))]
    lines += [f"{d['severity']}: {d['message']}" for d in plan["diagnostics"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- gc


def _time(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


# A stack that was never updated (its first `pulumi up` failed) counts as pushed long ago.
NEVER = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def environments_of(stacks: list[dict[str, Any]]) -> list[review_env.Env]:
    """`pulumi stack ls --json` of the review project -> the review environments, last update = last push."""
    envs = []
    for entry in stacks:
        name = str(entry.get("name", "")).rsplit("/", 1)[-1]
        try:
            pr = review_env.parse_pr(name)
        except review_env.ReviewConfigError:
            continue  # not a review stack
        last = entry.get("lastUpdate")
        envs.append(review_env.Env(pr, _time(last) if last else NEVER))
    return envs


def gc(stacks: list[dict[str, Any]], open_prs: list[dict[str, Any]], now: datetime.datetime, config: review_env.ReviewConfig, incoming: int | None = None) -> list[review_env.Eviction]:
    numbers = [int(p["number"]) for p in open_prs]
    return review_env.collect(environments_of(stacks), numbers, now, config.ttl_days, config.max_environments, incoming)


# ---------------------------------------------------------------------------- comment


def comment(outputs: dict[str, Any], config: review_env.ReviewConfig) -> str:
    from infra.cost.review import summary

    lines = [
        COMMENT_MARKER,
        f"### Review environment `{outputs['namespace']}`",
        "",
        "| | |",
        "|---|---|",
        f"| API | {outputs['api_url']} |",
        f"| Web | {outputs['web_url']} |",
        f"| Namespace | `{outputs['namespace']}` in dev's cluster (`app-config`, `app-secrets`) |",
        f"| Database | `{outputs['database']}` on dev's RDS instance, role `{outputs['database_role']}` |",
        "",
        f"Marginal cost in dev: {summary(outputs['cost'])}.",
        "",
        f"Destroyed when the pull request closes, or after {config.ttl_days} days without a push; "
        f"at most {config.max_environments} review environments at once (the one with the oldest push goes first).",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- CLI


def _read_json(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text or "null")


def run(args: Any) -> int:
    try:
        if args.action == "plan":
            if args.pr is None:
                print("error: review plan needs --pr NUMBER", file=sys.stderr)
                return 2
            plan = build_review_plan(args.pr)
            if args.json:
                json.dump(plan, sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                print(render(plan, f"pr-{args.pr}"))
            return 0
        config = review_config()
        if args.action == "gc":
            if not args.stacks or not args.open_prs:
                print("error: review gc needs --stacks FILE (pulumi stack ls --json) and --open-prs FILE (gh pr list --json number)", file=sys.stderr)
                return 2
            now = _time(args.now) if args.now else datetime.datetime.now(datetime.timezone.utc)
            evictions = gc(_read_json(args.stacks) or [], _read_json(args.open_prs) or [], now, config, args.incoming)
            if args.format == "tsv":
                for e in evictions:
                    print(f"{e.pr}\t{e.comment}")
            elif args.format == "json":
                print(json.dumps([{"pr": e.pr, "stack": f"pr-{e.pr}", "reason": e.reason, "comment": e.comment} for e in evictions]))
            else:
                for e in evictions:
                    print(f"destroy pr-{e.pr} ({e.reason}): {e.comment}")
                print(f"review gc: {len(evictions)} to destroy (ttl {config.ttl_days} days, at most {config.max_environments})")
            return 0
        if args.action == "comment":
            if not args.outputs:
                print("error: review comment needs --outputs FILE (pulumi stack output --json)", file=sys.stderr)
                return 2
            sys.stdout.write(comment(_read_json(args.outputs), config))
            return 0
    except review_env.ReviewConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PLAN_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"error: unknown review action {args.action!r}", file=sys.stderr)
    return 2
