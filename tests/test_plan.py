"""The offline plan's interface: preview-shaped JSON, the human form, bad input, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from infra.cli import main as cli_main
from infra.config import ConfigError
from infra.offline.harness import placeholder, run_program
from infra.offline.plan import render
from tests.conftest import STACKS, plan

ROOT = Path(__file__).resolve().parents[1]
STATE_KEYS = {"urn", "type", "custom", "parent", "inputs", "outputs", "dependencies", "protect", "retainOnDelete", "ignoreChanges", "provider"}


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m infra ...` in a fresh interpreter: what a user's shell sees, tracebacks included."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same command in this interpreter (the SDKs already loaded): an uncaught error fails the test."""
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def test_json_plan_of_prod_is_shaped_like_pulumi_preview(capsys):
    # In this interpreter: a fresh one's import of every SDK is what the bad-input test pays.
    result = cli_here(capsys, "plan", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert set(data) == {"config", "steps", "outputs", "changeSummary", "diagnostics"}
    assert data["changeSummary"] == {"create": 308}
    assert data["steps"][0]["newState"]["type"] == "pulumi:pulumi:Stack"
    for step in data["steps"]:
        assert step["op"] == "create" and step["urn"].startswith("urn:pulumi:prod::platform::")
        assert STATE_KEYS <= set(step["newState"])
    assert data["config"]["platform:tier"] == "production"
    assert data["outputs"]["environment"] == "prod"


def test_human_plan_shows_components_counts_and_sizing(capsys):
    result = cli_here(capsys, "plan", "--stack", "staging")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Offline plan of stack 'staging'")
    for expected in ("+ Network platform-staging", "+ Vpc platform-staging-vpc", "Resources: ", "network   10.20.0.0/16 across 2 AZs, NAT: single"):
        assert expected in out


# Every step of the plan, the stack itself included, per committed stack.
# Includes the Auto Scaling service-linked role and the key grant it holds (infra/components/keys.py)
# and the CI runner (infra/components/runner.py), the add-ons (infra/components/addons.py) and
# the autoscaler with its per-group tags (infra/components/scaling.py), the teams' access and the
# database roles (infra/components/access.py, db_roles.py), and the account's audit where the
# stack owns it (infra/components/audit.py: 13 in staging, 14 with Object Lock in prod; every
# stack's node role has its session-log policy).
CREATES = {"dev": 214, "staging": 258, "prod": 308}


@pytest.mark.parametrize("stack", STACKS)
def test_change_summary_counts_every_step(stack):
    data = plan(stack).data
    assert data["changeSummary"] == {"create": CREATES[stack]}
    assert len(data["steps"]) == CREATES[stack]


def resource_counts(text: str) -> tuple[str, dict[str, int]]:
    """The human plan's "Resources: N to create" line and its `type  count` lines."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Resources: "))
    rows = [line.split() for line in lines[start + 1 : lines.index("", start)]]
    return lines[start], {token: int(n) for token, n in rows}


# The human plan's totals (the stack itself is not a resource to create) and a few types, literally.
HUMAN_COUNTS = {
    "dev": ("Resources: 213 to create", {"aws:ec2/subnet:Subnet": 6, "aws:ec2/natGateway:NatGateway": 1, "aws:rds/instance:Instance": 1, "aws:scheduler/schedule:Schedule": 6, "eks:index:ManagedNodeGroup": 1}),
    "staging": ("Resources: 257 to create", {"aws:ec2/subnet:Subnet": 6, "aws:ec2/natGateway:NatGateway": 1, "aws:rds/instance:Instance": 1, "eks:index:ManagedNodeGroup": 1}),
    "prod": ("Resources: 307 to create", {"aws:ec2/subnet:Subnet": 9, "aws:ec2/natGateway:NatGateway": 3, "aws:rds/instance:Instance": 2, "eks:index:ManagedNodeGroup": 2, "cloudflare:index/dnsRecord:DnsRecord": 6}),
}


@pytest.mark.parametrize("stack", STACKS)
def test_human_plan_counts_each_type_exactly(stack):
    p = plan(stack)
    total, counts = resource_counts(render(p.data, stack))
    assert counts == dict(Counter(s["type"] for s in p.states if s["type"] != "pulumi:pulumi:Stack"))
    want_total, some = HUMAN_COUNTS[stack]
    assert total == want_total
    assert {token: counts[token] for token in some} == some


def test_every_stack_file_plans(stack):
    p = plan(stack)
    assert p.of_type("platform:network:Network") and p.data["diagnostics"] == []


def test_parents_and_dependencies_are_recorded():
    p = plan("staging")
    network = p.named("platform:network:Network", "platform-staging")
    vpc = p.named("aws:ec2/vpc:Vpc", "-vpc")
    assert vpc["parent"] == network["urn"]
    subnet = p.named("aws:ec2/subnet:Subnet", "-private-1")
    assert vpc["urn"] in subnet["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_never_print(stack):
    text = plan(stack).text()
    for key in ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key"):
        assert placeholder(f"platform:{key}") not in text
        assert plan(stack).config[f"platform:{key}"] == "[secret]"


def write_project(tmp_path: Path, stack: str, config: dict) -> Path:
    (tmp_path / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def staging_with(**changes) -> dict:
    config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[f"platform:{section}"][field] = value
        else:
            config[f"platform:{section}"] = value
    return config


BAD_INPUT = [
    ({"network__cidr": "10.20.0.0/33"}, "platform:network.cidr: '10.20.0.0/33' is not an IPv4 CIDR like 10.20.0.0/16"),
    ({"network__az_count": 9}, "platform:network.az_count: must be <= 6, got 9"),
    ({"color": "blue"}, "platform:color: unknown key; allowed: "),
    ({"stripe_secret_key": "sk_live_plaintext"}, "platform:stripe_secret_key: stored in plain text;"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUT)
def test_bad_input_exits_with_one_line(tmp_path, capsys, changes, message):
    project = write_project(tmp_path, "staging", staging_with(**changes))
    result = cli_here(capsys, "plan", "--stack", "staging", "--dir", str(project))
    assert_one_line_error(result, message)


def test_bad_input_in_a_fresh_interpreter_prints_no_traceback(tmp_path):
    changes, message = BAD_INPUT[3]
    project = write_project(tmp_path, "staging", staging_with(**changes))
    assert_one_line_error(cli("plan", "--stack", "staging", "--dir", str(project)), message)


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}")
    assert "Traceback" not in result.stderr and "sk_live_plaintext" not in result.stderr


def test_bad_input_registers_nothing():
    with pytest.raises(ConfigError) as err:
        run_program("staging", overrides={"platform:network": {"cidr": "10.20.0.0/18", "az_count": 2}})
    assert err.value.key == "platform:network.cidr"
    assert err.value.registered == []


def test_a_missing_secret_stops_the_real_program_with_the_command_to_run():
    """Under the engine nothing substitutes secrets; the program names the command instead."""
    with pytest.raises(ConfigError) as err:
        run_program("staging", substitute_secrets=False)
    assert str(err.value) == (
        "platform:cloudflare_api_token: required secret is not set; run "
        "`pulumi config set --secret platform:cloudflare_api_token <value> --stack staging`"
    )
    assert err.value.registered == []


def test_secure_values_in_a_stack_file_become_secret_placeholders(tmp_path, capsys):
    config = staging_with()
    config["platform:stripe_secret_key"] = {"secure": "v1:AAAABBBBccccDDDD"}
    project = write_project(tmp_path, "staging", config)
    result = cli_here(capsys, "plan", "--stack", "staging", "--dir", str(project), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["platform:stripe_secret_key"] == "[secret]"
    assert "v1:AAAABBBBccccDDDD" not in result.stdout


def test_unknown_stack_is_one_line(capsys):
    result = cli_here(capsys, "plan", "--stack", "qa")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no stack file Pulumi.qa.yaml; stacks: dev, prod, staging"
