"""The deploy path reaches the Kubernetes API: a stack with a private endpoint runs in its VPC.

For every committed stack whose `platform:cluster.public_access_cidrs` is empty (the EKS API
endpoint is private), every workflow job that runs the Pulumi engine on it (`pulumi/actions`
with preview / up / destroy / refresh, or such a `pulumi` command in a `run:` step) must run
on that stack's CodeBuild-hosted runner inside the VPC: `runs-on` is
`codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`, <project> being the
`runner_project_name` the stack's offline plan exports, and the job's timeout must fit in the
project's build timeout. A GitHub-hosted runner (ubuntu-*) cannot reach a private endpoint:
the cluster gets created, then every Kubernetes object fails.

Jobs are resolved the way GitHub would run them: each trigger of the workflow (`on:`) gives an
event and a ref, the shell steps that route a run to its stack (`needs.<job>.outputs`, a
`fromJSON` matrix) are executed with bash, and `${{ }}` expressions are substituted. The check
is shown to bite on a doctored workflow (the deploy job back on ubuntu-latest) and a stack
whose runner is turned off; a stack with a public (allowlisted) endpoint may run anywhere.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import STACKS, plan, stack_config

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ENGINE_COMMANDS = {"preview", "up", "update", "destroy", "refresh"}
ENGINE_RUN = re.compile(r"\bpulumi\s+(preview|up|update|destroy|refresh|import)\b")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PROJECT_TYPE = "aws:codebuild/project:Project"

# What a bootstrapped repository holds (docs/ci.md): every stack's runner exists.
SECRETS = {"secrets.RUNNER_STACKS": "dev staging prod", "secrets.PULUMI_BACKEND_URL": "s3://acme-platform-pulumi-state?region=us-east-1"}


@dataclass(frozen=True)
class StackPath:
    """What the check knows of a stack: is its endpoint private, and which runner serves it."""

    name: str
    private: bool
    label: str | None  # runs-on label of its runner, None without one
    build_timeout_minutes: int | None


@dataclass(frozen=True)
class EngineJob:
    workflow: str
    job: str
    trigger: str
    stack: str
    runs_on: Any
    timeout_minutes: int | None


def stack_path(stack: str, **overrides: Any) -> StackPath:
    cluster = overrides.get("platform:cluster") or stack_config(stack)["platform:cluster"]
    p = plan(stack, **overrides)
    projects = p.of_type(PROJECT_TYPE)
    return StackPath(
        name=stack,
        private=not cluster.get("public_access_cidrs"),
        label=p.outputs.get("runner_label"),
        build_timeout_minutes=int(projects[0]["inputs"]["buildTimeout"]) if projects else None,
    )


def load_workflows(directory: Path = WORKFLOWS) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(directory.glob("*.y*ml")):
        data = yaml.safe_load(path.read_text())
        data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
        out[path.name] = data
    return out


# ---------------------------------------------------------------------------- resolving jobs


def _normal(text: str) -> str:
    return EXPRESSION.sub(lambda m: "${{ " + m.group(1) + " }}", text)


def substitute(value: Any, context: dict[str, str]) -> Any:
    """`${{ name }}` replaced where the context knows the name; anything else is left as written."""
    if isinstance(value, list):
        return [substitute(v, context) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        inner = re.fullmatch(r"fromJSON\((.+)\)", expr)
        key = inner.group(1) if inner else expr
        return context[key] if key in context else "${{ " + expr + " }}"

    return EXPRESSION.sub(one, value)


def triggers(workflow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, event name, ref) for each way the workflow starts."""
    on = workflow["on"]
    events = {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on
    out = []
    for event, spec in events.items():
        spec = spec or {}
        if event == "push":
            out += [(f"push {b}", "push", f"refs/heads/{b}") for b in spec.get("branches", [])]
            out += [(f"push {t}", "push", "refs/tags/" + t.replace("*", "1.0.0")) for t in spec.get("tags", [])]
        elif event in ("pull_request", "pull_request_target"):
            out.append((event, event, "refs/pull/1/merge"))
        elif event == "workflow_dispatch":
            out += [(f"{event} main", event, "refs/heads/main"), (f"{event} feature", event, "refs/heads/feature/try-it")]
        else:
            out.append((event, event, "refs/heads/main"))
    return out


def run_shell_steps(job: dict[str, Any], context: dict[str, str], tmp: Path) -> dict[str, dict[str, str]]:
    """Run a job's `run:` steps with bash as GitHub would; returns each step id's outputs."""
    outputs: dict[str, dict[str, str]] = {}
    for step in job.get("steps", []):
        if "run" not in step:
            continue
        scope = {**context, **{f"steps.{sid}.outputs.{k}": v for sid, vals in outputs.items() for k, v in vals.items()}}
        env = {k: str(substitute(v, scope)) for k, v in (step.get("env") or {}).items()}
        out_file = tmp / "github_output"
        out_file.write_text("")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(out_file), "GITHUB_EVENT_NAME": context["github.event_name"], "GITHUB_REF": context["github.ref"], **env},
            capture_output=True, text=True, timeout=30, cwd=tmp,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"step {step.get('name', step.get('id'))!r} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
        if step.get("id"):
            outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
    return outputs


def job_outputs(job: dict[str, Any], context: dict[str, str], tmp: Path) -> dict[str, str]:
    steps = run_shell_steps(job, context, tmp)
    scope = {**context, **{f"steps.{sid}.outputs.{k}": v for sid, vals in steps.items() for k, v in vals.items()}}
    return {k: substitute(v, scope) for k, v in (job.get("outputs") or {}).items()}


_SIMPLE_IF = re.compile(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*")


def runs(condition: Any, context: dict[str, str]) -> bool:
    """Whether an `if:` lets a job or step run: `<context name> == '<literal>'` (or `!=`) is
    evaluated when the context knows the name; any other condition counts as running (the
    check stays on the safe side)."""
    match = _SIMPLE_IF.fullmatch(condition) if isinstance(condition, str) else None
    if match is None or match.group(1) not in context:
        return True
    return (context[match.group(1)] == match.group(3)) is (match.group(2) == "==")


def _engine_stacks(job: dict[str, Any], context: dict[str, str]) -> list[str]:
    """The stacks a job's engine steps operate on, resolved; [] when it runs no engine step."""
    stacks = []
    if not runs(job.get("if"), context):
        return stacks
    for step in job.get("steps", []):
        if not runs(step.get("if"), context):
            continue
        uses = step.get("uses", "")
        if uses.startswith("pulumi/actions@") and str((step.get("with") or {}).get("command", "")) in ENGINE_COMMANDS:
            stacks.append(str(substitute(step["with"]["stack-name"], context)))
        elif "run" in step and ENGINE_RUN.search(step["run"]):
            env = {k: str(substitute(v, context)) for k, v in (step.get("env") or {}).items()}
            for arg in re.findall(r"--stack[= ]\"?([$\w.-]+)\"?", step["run"]):
                stacks.append(env.get(arg.lstrip("$"), arg) if arg.startswith("$") else arg)
    return stacks


def engine_jobs(workflows: dict[str, dict[str, Any]], tmp: Path) -> list[EngineJob]:
    """Every (workflow, job, trigger, stack) where a job runs the Pulumi engine, with its runs-on."""
    found = []
    for name, workflow in workflows.items():
        jobs = workflow.get("jobs", {})
        for label, event, ref in triggers(workflow):
            base = {"github.event_name": event, "github.ref": ref, **SECRETS}
            needs_outputs: dict[str, dict[str, str]] = {}
            for job_id, job in jobs.items():
                needs = job.get("needs") or []
                needs = [needs] if isinstance(needs, str) else needs
                context = dict(base)
                for needed in needs:
                    if needed not in needs_outputs:
                        try:
                            needs_outputs[needed] = job_outputs(jobs[needed], base, tmp)
                        except RuntimeError:
                            needs_outputs[needed] = {}  # this trigger does not route there
                    context.update({f"needs.{needed}.outputs.{k}": v for k, v in needs_outputs[needed].items()})
                matrix = (job.get("strategy") or {}).get("matrix") or {}
                stacks = substitute(matrix.get("stack"), context) if "stack" in matrix else None
                if isinstance(stacks, str):
                    try:
                        stacks = json.loads(stacks)
                    except json.JSONDecodeError:
                        stacks = []
                for value in stacks if stacks is not None else [None]:
                    scope = {**context, "matrix.stack": value} if value is not None else context
                    for stack in dict.fromkeys(_engine_stacks(job, scope)):
                        if "${{" in stack:
                            continue  # this trigger does not reach the job
                        found.append(EngineJob(name, job_id, label, stack, substitute(job.get("runs-on"), scope), job.get("timeout-minutes")))
    return found


# ---------------------------------------------------------------------------- the check


def deploy_path_violations(workflows: dict[str, dict[str, Any]], stacks: dict[str, StackPath], tmp: Path) -> list[str]:
    problems = []
    for s in stacks.values():
        if s.private and s.label is None:
            problems.append(f"{s.name}: the API endpoint is private (cluster.public_access_cidrs is empty) and the stack has no runner (platform:runner)")
    for j in engine_jobs(workflows, tmp):
        s = stacks.get(j.stack)
        if s is None or not s.private:
            continue
        first = j.runs_on[0] if isinstance(j.runs_on, list) else j.runs_on
        where = f"{j.workflow} job {j.job} ({j.trigger}) runs the Pulumi engine on {j.stack}, whose API endpoint is private,"
        if s.label is None or _normal(str(first)) != _normal(s.label):
            problems.append(f"{where} on {first!r}, outside its VPC; runs-on must be {s.label or 'its runner (platform:runner)'!r}")
        elif s.build_timeout_minutes is not None and (j.timeout_minutes is None or j.timeout_minutes > s.build_timeout_minutes):
            problems.append(f"{where} with timeout-minutes {j.timeout_minutes}: more than the runner's build timeout ({s.build_timeout_minutes} minutes)")
    return problems


@pytest.fixture(scope="module")
def committed() -> dict[str, StackPath]:
    return {s: stack_path(s) for s in STACKS}


def test_every_committed_stack_is_previewed_and_deployed_from_inside_its_vpc(committed, tmp_path):
    assert all(s.private for s in committed.values()), "the committed stacks keep the endpoint private (the default)"
    assert deploy_path_violations(load_workflows(), committed, tmp_path) == []


def test_every_stack_is_previewed_and_deployed_by_some_job(tmp_path):
    # The check only means something if it sees the jobs: each stack is previewed and deployed.
    jobs = engine_jobs(load_workflows(), tmp_path)
    assert {j.stack for j in jobs if j.workflow == "pull-request.yml"} == set(STACKS)
    assert {j.stack for j in jobs if j.workflow == "deploy.yml"} == set(STACKS)
    assert {j.stack for j in jobs if j.workflow == "drift.yml"} == set(STACKS)
    assert {(j.trigger, j.stack) for j in jobs if j.workflow == "deploy.yml"} == {
        ("workflow_dispatch main", "dev"), ("workflow_dispatch feature", "dev"), ("push main", "staging"), ("push v*", "prod"),
    }


def test_a_deploy_job_back_on_a_github_hosted_runner_fails(committed, tmp_path):
    workflows = load_workflows()
    doctored = copy.deepcopy(workflows)
    doctored["deploy.yml"]["jobs"]["deploy"]["runs-on"] = "ubuntu-latest"
    problems = deploy_path_violations(doctored, committed, tmp_path)
    assert problems == [
        f"deploy.yml job deploy ({trigger}) runs the Pulumi engine on {stack}, whose API endpoint is private, on 'ubuntu-latest', outside its VPC; "
        f"runs-on must be 'codebuild-platform-{stack}-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}'"
        for trigger, stack in (("push main", "staging"), ("push v*", "prod"), ("workflow_dispatch main", "dev"), ("workflow_dispatch feature", "dev"))
    ]


def test_a_preview_on_another_stacks_runner_or_on_ubuntu_fails(committed, tmp_path):
    doctored = copy.deepcopy(load_workflows())
    preview = doctored["pull-request.yml"]["jobs"]["preview"]
    preview["runs-on"] = "codebuild-platform-dev-runner-${{ github.run_id }}-${{ github.run_attempt }}"
    problems = deploy_path_violations(doctored, committed, tmp_path)
    assert [p.split(" runs the Pulumi engine on ")[1].split(",")[0] for p in problems] == ["staging", "prod"]
    preview["runs-on"] = "ubuntu-24.04"
    assert len(deploy_path_violations(doctored, committed, tmp_path)) == 3


def test_a_private_stack_without_its_runner_fails(committed, tmp_path):
    runner = {**stack_config("staging")["platform:runner"], "enabled": False}
    stacks = {**committed, "staging": stack_path("staging", **{"platform:runner": runner})}
    assert stacks["staging"].label is None
    problems = deploy_path_violations(load_workflows(), stacks, tmp_path)
    assert problems[0] == "staging: the API endpoint is private (cluster.public_access_cidrs is empty) and the stack has no runner (platform:runner)"
    # and the preview, the deploy and the nightly drift refresh of staging are outside its VPC
    assert sorted(line.split(" runs the Pulumi engine")[0] for line in problems[1:]) == [
        "deploy.yml job deploy (push main)",
        "drift.yml job drift (schedule)",
        "drift.yml job drift (workflow_dispatch feature)",
        "drift.yml job drift (workflow_dispatch main)",
        "pull-request.yml job preview (pull_request)",
    ]


def test_a_job_longer_than_the_runners_build_timeout_fails(committed, tmp_path):
    doctored = copy.deepcopy(load_workflows())
    doctored["deploy.yml"]["jobs"]["deploy"]["timeout-minutes"] = committed["prod"].build_timeout_minutes + 1
    problems = deploy_path_violations(doctored, committed, tmp_path)
    assert problems and all("more than the runner's build timeout (120 minutes)" in p for p in problems)


def test_a_public_allowlisted_endpoint_may_be_deployed_from_anywhere(committed, tmp_path):
    cluster = {**stack_config("staging")["platform:cluster"], "public_access_cidrs": ["203.0.113.0/24"]}
    public = stack_path("staging", **{"platform:cluster": cluster})
    # Unset `enabled`: the runner is on exactly where the endpoint is private.
    assert not public.private and public.label is None
    doctored = copy.deepcopy(load_workflows())
    doctored["deploy.yml"]["jobs"]["deploy"]["runs-on"] = "ubuntu-latest"
    problems = deploy_path_violations(doctored, {**committed, "staging": public}, tmp_path)
    assert problems and not any(" on staging," in p for p in problems)


def test_the_label_is_the_one_aws_documents_for_the_project(committed):
    # AWS CodeBuild User Guide: `codebuild-<project-name>-${{ github.run_id }}-${{ github.run_attempt }}`.
    for stack in STACKS:
        project = plan(stack).named(PROJECT_TYPE, f"platform-{stack}-runner")["inputs"]["name"]
        assert committed[stack].label == f"codebuild-{project}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
        assert plan(stack).outputs["runner_project_name"] == project


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        (None, {}, True),
        ("needs.target.outputs.stack == 'prod'", {"needs.target.outputs.stack": "prod"}, True),
        ("needs.target.outputs.stack == 'prod'", {"needs.target.outputs.stack": "staging"}, False),
        ("needs.target.outputs.stack != 'prod'", {"needs.target.outputs.stack": "staging"}, True),
        ("needs.target.outputs.stack != 'prod'", {"needs.target.outputs.stack": "prod"}, False),
        # not known here, or not the simple form: counted as running, so the check still sees the job
        ("needs.target.outputs.stack == 'prod'", {}, True),
        ("${{ !cancelled() && needs.checks.result == 'success' }}", {"needs.target.outputs.stack": "prod"}, True),
    ],
)
def test_only_simple_conditions_skip_a_job_or_step(condition, context, expected):
    assert runs(condition, context) is expected


def test_prod_is_planned_and_deployed_on_its_runner(tmp_path):
    jobs = {(j.job, j.trigger) for j in engine_jobs(load_workflows(), tmp_path) if j.workflow == "deploy.yml" and j.stack == "prod"}
    assert jobs == {("plan", "push v*"), ("deploy", "push v*")}
