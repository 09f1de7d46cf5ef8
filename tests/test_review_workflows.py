"""The review environments' workflows (review.yml, review-gc.yml) and review/destroy.sh.

actionlint and zizmor run over every workflow in tests/test_workflows.py (these included);
here: triggers, who gets an environment, runners, permissions, concurrency, and the shell
steps executed with bash against a fake `pulumi` and `gh` that record what they were asked.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
DEV_RUNNER = "codebuild-platform-dev-runner-${{ github.run_id }}-${{ github.run_attempt }}"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"


def load(name: str) -> dict:
    with open(WORKFLOWS / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_both_workflows_are_linted_by_the_suite():
    from tests.test_workflows import WORKFLOW_FILES

    assert {WORKFLOWS / "review.yml", WORKFLOWS / "review-gc.yml"} <= set(WORKFLOW_FILES)


def test_review_triggers_and_forks():
    wf = load("review.yml")
    assert wf[True] == {"pull_request": {"types": ["opened", "synchronize", "reopened", "closed"], "branches": ["main"]}}
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["checks"]["if"] == f"github.event.action != 'closed' && {SAME_REPO}"
    assert jobs["up"]["needs"] == "checks"
    assert jobs["destroy"]["if"] == f"github.event.action == 'closed' && {SAME_REPO}"
    # The offline checks run before anything touches dev.
    run = "\n".join(s.get("run", "") for s in jobs["checks"]["steps"])
    assert ".venv/bin/python -m infra plan --stack dev" in run and ".venv/bin/python -m infra check --stack dev" in run
    assert '.venv/bin/python -m infra review plan --pr "$PR"' in run


@pytest.mark.parametrize(
    "workflow, job, runs_on, permissions, group, environment",
    [
        ("review.yml", "checks", "ubuntu-latest", {"contents": "read"}, None, None),
        ("review.yml", "up", DEV_RUNNER, {"contents": "read", "id-token": "write", "pull-requests": "write"}, "review-pr-${{ github.event.pull_request.number }}", "dev"),
        ("review.yml", "destroy", DEV_RUNNER, {"contents": "read", "id-token": "write", "pull-requests": "write"}, "review-pr-${{ github.event.pull_request.number }}", "dev"),
        ("review-gc.yml", "plan", "ubuntu-latest", {"contents": "read", "id-token": "write", "pull-requests": "read"}, None, "dev"),
        ("review-gc.yml", "destroy", DEV_RUNNER, {"contents": "read", "id-token": "write", "pull-requests": "write"}, "review-pr-${{ matrix.eviction.pr }}", "dev"),
    ],
)
def test_jobs_runners_permissions_and_concurrency(workflow, job, runs_on, permissions, group, environment):
    spec = load(workflow)["jobs"][job]
    assert spec["runs-on"] == runs_on
    assert spec["permissions"] == permissions
    assert (spec.get("concurrency") or {}).get("group") == group
    if group:
        assert spec["concurrency"]["cancel-in-progress"] is False
    assert spec.get("environment") == environment
    if runs_on == DEV_RUNNER:
        assert spec["env"] == {"PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true"}
    creds = [s for s in spec["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    for step in creds:
        assert int(step["with"]["role-duration-seconds"]) >= 60 * spec["timeout-minutes"]
    for step in spec["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_the_gc_runs_on_weekdays_when_dev_is_awake():
    wf = load("review-gc.yml")
    assert wf[True]["schedule"] == [{"cron": "41 9 * * 1-5"}]
    assert "workflow_dispatch" in wf[True]


# ---------------------------------------------------------------------------- the shell


FAKE = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
if [ "$(basename "$0")" = pulumi ] && [ "$1 $2" = "stack select" ] && [ -n "${NO_STACK:-}" ]; then exit 255; fi
if [ "$(basename "$0")" = pulumi ] && [ "$1 $2" = "stack ls" ]; then cat "$STACKS"; fi
if [ "$(basename "$0")" = gh ] && [ "$1 $2" = "pr list" ]; then cat "$OPEN"; fi
exit 0
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "gh"):
        path = bin_dir / tool
        path.write_text(FAKE)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    work = tmp_path / "work"
    work.mkdir()
    for name in (".venv", "infra", "review", "Pulumi.dev.yaml"):
        (work / name).symlink_to(ROOT / name)
    return tmp_path


def bash(sandbox: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    calls = sandbox / "calls"
    calls.write_text("")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=sandbox / "work", capture_output=True, text=True, timeout=120,
        env={"PATH": f"{sandbox / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls), **env},
    )


def calls(sandbox: Path) -> list[str]:
    return (sandbox / "calls").read_text().splitlines()


def test_destroy_drops_the_database_before_destroying_then_removes_the_stack(sandbox):
    result = bash(sandbox, "review/destroy.sh 123")
    assert result.returncode == 0, result.stderr
    assert calls(sandbox) == [
        "pulumi stack select pr-123 --non-interactive",
        "pulumi config refresh --stack pr-123 --force",
        "pulumi config set --stack pr-123 platform-review:teardown true",
        "pulumi up --stack pr-123 --yes --non-interactive --suppress-outputs",
        "pulumi destroy --stack pr-123 --yes --non-interactive --suppress-outputs",
        "pulumi stack rm pr-123 --yes --non-interactive",
    ]


@pytest.mark.parametrize(
    "arg, env, code, out, expected_calls",
    [
        ("123", {"NO_STACK": "1"}, 0, "::notice title=review environment pr-123::no such stack: nothing to destroy", ["pulumi stack select pr-123 --non-interactive"]),
        ("", {}, 2, "::error title=review destroy::not a pull request number: '' (usage: review/destroy.sh NUMBER)", []),
        ("12;rm", {}, 2, "::error title=review destroy::not a pull request number: '12;rm' (usage: review/destroy.sh NUMBER)", []),
    ],
)
def test_destroy_without_a_stack_or_a_number(sandbox, arg, env, code, out, expected_calls):
    result = bash(sandbox, f"review/destroy.sh '{arg}'", **env)
    assert (result.returncode, result.stdout.strip(), calls(sandbox)) == (code, out, expected_calls)


def step(workflow: str, job: str, name_start: str) -> dict:
    [found] = [s for s in load(workflow)["jobs"][job]["steps"] if s.get("name", "").startswith(name_start)]
    return found


def test_make_room_destroys_the_oldest_and_comments(sandbox):
    stacks = [{"name": f"pr-{i}", "lastUpdate": f"2099-12-01T0{i}:00:00.000Z"} for i in range(1, 6)]
    (sandbox / "stacks.json").write_text(json.dumps(stacks))
    (sandbox / "open.json").write_text(json.dumps([{"number": i} for i in range(1, 7)]))
    run = step("review.yml", "up", "Make room")["run"]
    result = bash(sandbox, run, PR="6", REPO="acme/platform", PULUMI_BACKEND_URL="s3://x", STACKS=str(sandbox / "stacks.json"), OPEN=str(sandbox / "open.json"), GH_TOKEN="t")
    assert result.returncode == 0, result.stderr
    got = calls(sandbox)
    assert got[:3] == ["pulumi login s3://x", "pulumi stack ls --json", "gh pr list --repo acme/platform --state open --limit 1000 --json number"]
    assert got[3:10] == [
        "pulumi stack select pr-1 --non-interactive",
        "pulumi config refresh --stack pr-1 --force",
        "pulumi config set --stack pr-1 platform-review:teardown true",
        "pulumi up --stack pr-1 --yes --non-interactive --suppress-outputs",
        "pulumi destroy --stack pr-1 --yes --non-interactive --suppress-outputs",
        "pulumi stack rm pr-1 --yes --non-interactive",
        "gh pr comment 1 --repo acme/platform --body Review environment `pr-1` destroyed: at most 5 review environments run at once, and this one had the oldest push (2099-12-01 01:00 UTC). Push again to recreate it.",
    ]
    assert len(got) == 10


def test_the_gc_plan_step_outputs_the_evictions_for_the_matrix(sandbox):
    (sandbox / "stacks.json").write_text(json.dumps([{"name": "pr-7", "lastUpdate": "2020-01-01T00:00:00Z"}, {"name": "pr-8", "lastUpdate": "2099-01-01T00:00:00Z"}]))
    (sandbox / "open.json").write_text(json.dumps([{"number": 7}]))
    output = sandbox / "github_output"
    output.write_text("")
    run = step("review-gc.yml", "plan", "Review stacks")["run"]
    result = bash(sandbox, run, REPO="acme/platform", PULUMI_BACKEND_URL="s3://x", STACKS=str(sandbox / "stacks.json"), OPEN=str(sandbox / "open.json"), GH_TOKEN="t", GITHUB_OUTPUT=str(output))
    assert result.returncode == 0, result.stderr
    line = output.read_text().strip()
    assert line.startswith("evictions=")
    evictions = json.loads(line.removeprefix("evictions="))
    assert [(e["pr"], e["reason"]) for e in evictions] == [(7, "expired"), (8, "closed")]
    assert "review gc: 2 to destroy (ttl 7 days, at most 5)" in result.stdout
