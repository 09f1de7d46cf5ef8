"""The review program (review/__main__.py) under the mocks harness, against dev's offline plan.

`run_review(123)` plans dev (Pulumi.dev.yaml), then runs the review program for stack
`pr-123` with its StackReference answered by dev's outputs and its Secrets Manager reads by
dev's secret versions: exactly what `python -m infra review plan --pr 123` prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest
from pulumi.runtime import rpc

from infra import review_env, runtime_config
from infra.components.review_env import seed_script
from infra.config import ConfigError
from infra.offline.harness import ROOT, reference_of, run_program, secret_values_of
from infra.offline.plan import to_preview_json
from infra.review import environments
from tests.conftest import plan as dev_plan

DEV_REF = "organization/platform/dev"


@cache
def review(pr: int = 123, teardown: bool = False):
    overrides = {f"{review_env.NAMESPACE}:teardown": True} if teardown else None
    dev_run, run = environments.run_review(pr, overrides)
    return dev_run, run, to_preview_json(run)


def regs(run, token: str | None = None) -> list[Any]:
    return [r for r in run.registrations if token is None or r.type == token]


def one(run, token: str, name: str):
    [found] = [r for r in run.registrations if r.type == token and r.name == name]
    return found


def plain(value: Any) -> Any:
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return plain(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


EXPECTED = sorted([
    ("pulumi:providers:aws", "aws"),
    ("pulumi:providers:cloudflare", "cloudflare"),
    ("pulumi:providers:kubernetes", "dev-k8s"),
    ("platform:review:ReviewEnvironment", "pr-123"),
    ("random:index/randomPassword:RandomPassword", "pr-123-role-password"),
    ("random:index/randomBytes:RandomBytes", "pr-123-role-salt"),
    ("random:index/randomPassword:RandomPassword", "pr-123-jwt-secret"),
    ("random:index/randomPassword:RandomPassword", "pr-123-jwt-refresh-secret"),
    ("kubernetes:core/v1:Namespace", "pr-123-ns"),
    ("kubernetes:core/v1:ResourceQuota", "pr-123-quota"),
    ("kubernetes:core/v1:LimitRange", "pr-123-limits"),
    ("kubernetes:core/v1:Secret", "pr-123-db-credentials"),
    ("kubernetes:core/v1:ConfigMap", "pr-123-db-sql"),
    ("kubernetes:batch/v1:Job", "pr-123-db-create"),
    ("kubernetes:core/v1:Secret", "pr-123-app-secrets"),
    ("kubernetes:core/v1:ConfigMap", "pr-123-app-config"),
    ("cloudflare:index/dnsRecord:DnsRecord", "pr-123-dns-api"),
    ("cloudflare:index/dnsRecord:DnsRecord", "pr-123-dns-web"),
])


def test_the_review_environment_of_pr_123():
    _, run, _ = review()
    assert sorted((r.type, r.name) for r in regs(run)) == EXPECTED
    component = one(run, "platform:review:ReviewEnvironment", "pr-123")
    children = [r for r in regs(run) if r.parent == component.urn]
    assert len(children) == len(EXPECTED) - 4
    assert run.stack_urn == "urn:pulumi:pr-123::platform-review::pulumi:pulumi:Stack::platform-review-pr-123"


def test_the_namespace_is_pod_security_restricted_with_a_quota():
    _, run, _ = review()
    ns = one(run, "kubernetes:core/v1:Namespace", "pr-123-ns").inputs["metadata"]
    assert ns["name"] == "pr-123"
    assert {k: ns["labels"][k] for k in ns["labels"] if k.startswith("pod-security")} == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    quota = one(run, "kubernetes:core/v1:ResourceQuota", "pr-123-quota").inputs
    assert quota["metadata"]["namespace"] == "pr-123"
    assert quota["spec"]["hard"] == {
        "requests.cpu": "500m", "requests.memory": "1024Mi", "limits.memory": "2048Mi",
        "services.loadbalancers": "0", "services.nodeports": "0", "persistentvolumeclaims": "0",
    }


def test_the_database_job_runs_create_sql_from_platform_db_as_dev_master():
    dev_run, run, _ = review()
    job = one(run, "kubernetes:batch/v1:Job", "pr-123-db-create").inputs
    sql = review_env.create_sql(123)
    seed = seed_script(review_env.names(123, "api-dev.example.com", "dev.example.com"))
    assert job["metadata"]["namespace"] == "platform-db"
    assert job["metadata"]["name"] == f"review-pr-123-create-{review_env.sql_digest(sql + seed)}"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c", 'psql -X -v ON_ERROR_STOP=1 -v role_verifier="$ROLE_VERIFIER" -f /sql/review.sql && PGDATABASE=pr_123 exec psql -X -v ON_ERROR_STOP=1 -f /sql/seed.sql']
    assert one(run, "kubernetes:core/v1:ConfigMap", "pr-123-db-sql").inputs["data"] == {"review.sql": sql, "seed.sql": seed}
    creds = one(run, "kubernetes:core/v1:Secret", "pr-123-db-credentials").inputs
    assert creds["metadata"] == {"name": "review-pr-123-db", "namespace": "platform-db", "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": "review-db"}}
    assert secret(creds["stringData"])
    values = plain(creds["stringData"])
    dev_db = dev_run.outputs["database_endpoint"][0]
    assert set(values) == {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "PGCONNECT_TIMEOUT", "ROLE_VERIFIER"}
    assert values["PGPASSWORD"] == json.loads(secret_values_of(dev_run)[dev_run.outputs["database_secret_arn"][0]])["password"]
    assert (values["PGHOST"], values["PGPORT"], values["PGDATABASE"], values["PGUSER"], values["PGSSLMODE"]) == (dev_db, "5432", "postgres", "app_admin", "require")
    assert values["ROLE_VERIFIER"].startswith("SCRAM-SHA-256$4096:")


def test_app_secrets_and_app_config():
    dev_run, run, _ = review()
    secrets = one(run, "kubernetes:core/v1:Secret", "pr-123-app-secrets").inputs
    assert secrets["metadata"]["name"] == runtime_config.SECRET_NAME and secrets["metadata"]["namespace"] == "pr-123"
    assert secret(secrets["stringData"])
    values = plain(secrets["stringData"])
    assert sorted(values) == sorted(runtime_config.SECRET_KEYS)
    url = urlsplit(values["DATABASE_URL"])
    assert (url.username, url.hostname, url.port, url.path, url.query) == ("pr_123_app", dev_run.outputs["database_endpoint"][0], 5432, "/pr_123", "sslmode=require")
    assert values["REDIS_URL"].startswith("rediss://:") and dev_run.outputs["redis_endpoint"][0] in values["REDIS_URL"]
    assert (values["STRIPE_SECRET_KEY"], values["SENDGRID_API_KEY"]) == (runtime_config.MOCK_STRIPE_SECRET_KEY, runtime_config.MOCK_SENDGRID_API_KEY)
    config = one(run, "kubernetes:core/v1:ConfigMap", "pr-123-app-config").inputs
    assert config["metadata"]["name"] == runtime_config.CONFIG_MAP_NAME
    dev_config = dev_plan("dev").named("kubernetes:core/v1:ConfigMap", "-app-app-config")["inputs"]["data"]
    assert set(config["data"]) == set(dev_config)
    assert {k: config["data"][k] for k in ("API_URL", "FRONTEND_URL", "CORS_ORIGIN")} == {
        "API_URL": "https://pr-123-api-dev.example.com",
        "FRONTEND_URL": "https://pr-123-dev.example.com",
        "CORS_ORIGIN": "https://pr-123-dev.example.com,http://localhost:8081",
    }
    assert {k: v for k, v in config["data"].items() if k not in ("API_URL", "FRONTEND_URL", "CORS_ORIGIN")} == {
        k: v for k, v in dev_config.items() if k not in ("API_URL", "FRONTEND_URL", "CORS_ORIGIN")
    }


@pytest.mark.parametrize(
    "name, host, proxied, ttl",
    [("pr-123-dns-api", "pr-123-api-dev.example.com", False, 300), ("pr-123-dns-web", "pr-123-dev.example.com", True, 1)],
)
def test_dns_records_point_at_devs_load_balancer(name, host, proxied, ttl):
    dev_run, run, _ = review()
    record = one(run, "cloudflare:index/dnsRecord:DnsRecord", name).inputs
    assert {k: record[k] for k in ("zoneId", "name", "type", "content", "proxied", "ttl")} == {
        "zoneId": "0123456789abcdef0123456789abcdef", "name": host, "type": "CNAME",
        "content": dev_run.outputs["load_balancer_hostname"][0], "proxied": proxied, "ttl": ttl,
    }


def test_every_resource_goes_through_an_explicit_provider():
    _, run, _ = review()
    providers = {r.type.rsplit(":", 1)[-1]: r.urn for r in regs(run) if r.type.startswith("pulumi:providers:")}
    for r in regs(run):
        package = r.type.split(":", 1)[0]
        if r.custom and package in ("kubernetes", "cloudflare"):
            assert r.provider.startswith(providers[package] + "::"), (r.name, r.provider)
    # The AWS provider is dev's: its account guard and region.
    aws = one(run, "pulumi:providers:aws", "aws").inputs
    assert (json.loads(aws["allowedAccountIds"]), aws["region"]) == (["210987654321"], "us-east-1")
    assert secret(one(run, "pulumi:providers:kubernetes", "dev-k8s").inputs["kubeconfig"])


def test_outputs_and_cost():
    _, _, planned = review()
    out = planned["outputs"]
    assert {k: out[k] for k in ("pr", "namespace", "database", "database_role", "api_url", "web_url", "dev_stack", "teardown")} == {
        "pr": 123, "namespace": "pr-123", "database": "pr_123", "database_role": "pr_123_app",
        "api_url": "https://pr-123-api-dev.example.com", "web_url": "https://pr-123-dev.example.com",
        "dev_stack": DEV_REF, "teardown": False,
    }
    assert out["cost"]["monthly_total"] == 3.27


def test_teardown_keeps_only_the_drop_job():
    _, run, planned = review(teardown=True)
    assert sorted((r.type, r.name) for r in regs(run)) == sorted([
        ("pulumi:providers:aws", "aws"),
        ("pulumi:providers:cloudflare", "cloudflare"),
        ("pulumi:providers:kubernetes", "dev-k8s"),
        ("platform:review:ReviewEnvironment", "pr-123"),
        ("kubernetes:core/v1:Secret", "pr-123-db-credentials"),
        ("kubernetes:core/v1:ConfigMap", "pr-123-db-sql"),
        ("kubernetes:batch/v1:Job", "pr-123-db-drop"),
    ])
    job = one(run, "kubernetes:batch/v1:Job", "pr-123-db-drop").inputs
    assert job["metadata"]["name"] == f"review-pr-123-drop-{review_env.sql_digest(review_env.drop_sql(123))}"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["sh", "-c", "exec psql -X -v ON_ERROR_STOP=1 -f /sql/review.sql"]
    assert one(run, "kubernetes:core/v1:ConfigMap", "pr-123-db-sql").inputs["data"] == {"review.sql": review_env.drop_sql(123)}
    assert "ROLE_VERIFIER" not in plain(one(run, "kubernetes:core/v1:Secret", "pr-123-db-credentials").inputs["stringData"])
    assert planned["outputs"]["cost"]["items"][2]["monthly"] == 0


# ---------------------------------------------------------------------------- refusals


def refused(overrides: dict[str, Any] | None = None, *, stack: str = "pr-123", references: dict | None = None, secrets: bool = True) -> tuple[str, list]:
    from infra.offline.harness import placeholder, read_project_config

    token = environments.TOKEN_KEY
    stack_file = read_project_config(environments.REVIEW_DIR, stack, overrides, secrets={token: placeholder(token)} if secrets else None)
    dev_run, _, _ = review()
    refs = references if references is not None else {DEV_REF: reference_of(dev_run)}
    with pytest.raises(ConfigError) as err:
        run_program(stack, program=environments.REVIEW_DIR, project=environments.PROJECT, stack_file=stack_file,
                    stack_references=refs, account_id="210987654321", cloudflare_zones={})
    return str(err.value), err.value.registered  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "overrides, stack, message",
    [
        ({"platform-review:dev_stack": "organization/platform/staging"}, "pr-123",
         "platform-review:dev_stack: organization/platform/staging is a staging-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod"),
        ({"platform-review:dev_stack": "organization/platform/prod"}, "pr-123",
         "platform-review:dev_stack: organization/platform/prod is a production-tier stack (platform:tier); review environments are created only in a development-tier stack, never in staging or prod"),
        ({"platform-review:dev_stack": "organization/platform/qa"}, "pr-123",
         "platform-review:dev_stack: organization/platform/qa: no stack file Pulumi.qa.yaml in the repository to read its tier, zone and app settings from"),
        ({"platform-review:ttl_days": 0}, "pr-123",
         "platform-review:ttl_days: must be from 1 to 90 (days without a push before the daily job destroys it), not 0"),
        ({"platform-review:max_environments": "many"}, "pr-123",
         "platform-review:max_environments: must be a whole number (review environments at once) from 1 to 20, not 'many'"),
        (None, "dev",
         "platform-review:stack: 'dev' is not a review stack name: pr-<pull request number> (1 to 999999999), e.g. pr-123"),
    ],
)
def test_bad_input_stops_before_any_resource(overrides, stack, message):
    got, registered = refused(overrides, stack=stack)
    assert (got, registered) == (message, [])


def test_a_reference_to_another_stack_than_its_file_says_is_refused():
    dev_run, _, _ = review()
    ref = reference_of(dev_run)
    ref = {**ref, "outputs": {**ref["outputs"], "environment": "prod"}}
    got, registered = refused(references={DEV_REF: ref})
    assert got == "platform-review:dev_stack: organization/platform/dev exports environment 'prod', not 'dev' as its stack file says: the reference is not that stack"
    assert registered == []


def test_a_missing_cloudflare_token_names_the_command():
    got, registered = refused(secrets=False)
    assert got.startswith("platform-review:cloudflare_api_token: required secret is not set; copy dev's: `pulumi config get platform:cloudflare_api_token --stack dev | (cd review && pulumi config set --secret platform-review:cloudflare_api_token --stack pr-123)`")
    assert registered == []


# ---------------------------------------------------------------------------- the CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra", "review", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_review_plan_prints_the_resources():
    result = cli("plan", "--pr", "123")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Offline plan of review stack 'pr-123' against dev's offline plan")
    for line in ("  + ReviewEnvironment pr-123", "    + Job pr-123-db-create", "    + DnsRecord pr-123-dns-api", "Resources: 18 to create",
                 "  API        https://pr-123-api-dev.example.com", "Marginal monthly cost in dev: $3.27 USD"):
        assert line in out.splitlines() or any(l.startswith(line) for l in out.splitlines()), line


@pytest.mark.parametrize(
    "stacks, open_prs, now, incoming, expected",
    [
        ([{"name": "organization/platform-review/pr-1", "lastUpdate": "2026-11-20T10:00:00.000Z"},
          {"name": "pr-2", "lastUpdate": "2026-12-01T10:00:00.000Z"},
          {"name": "pr-3"},
          {"name": "pr-4", "lastUpdate": "2026-12-01T11:00:00.000Z"}],
         [{"number": 1}, {"number": 3}, {"number": 4}], "2026-12-02T06:00:00Z", None,
         [{"pr": 1, "reason": "expired"}, {"pr": 2, "reason": "closed"}, {"pr": 3, "reason": "expired"}]),
        ([{"name": f"pr-{i}", "lastUpdate": f"2026-12-01T0{i}:00:00Z"} for i in range(1, 6)],
         [{"number": i} for i in range(1, 7)], "2026-12-02T06:00:00Z", 6,
         [{"pr": 1, "reason": "cap"}]),
        ([], [], "2026-12-02T06:00:00Z", None, []),
    ],
)
def test_review_gc(tmp_path, stacks, open_prs, now, incoming, expected):
    (tmp_path / "stacks.json").write_text(json.dumps(stacks))
    (tmp_path / "open.json").write_text(json.dumps(open_prs))
    args = ["gc", "--stacks", str(tmp_path / "stacks.json"), "--open-prs", str(tmp_path / "open.json"), "--now", now, "--format", "json"]
    result = cli(*args, *(["--incoming", str(incoming)] if incoming else []))
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert [{"pr": e["pr"], "reason": e["reason"]} for e in got] == expected
    assert all(e["stack"] == f"pr-{e['pr']}" and e["comment"].startswith(f"Review environment `pr-{e['pr']}` destroyed: ") for e in got)


def test_review_comment(tmp_path):
    _, _, planned = review()
    (tmp_path / "outputs.json").write_text(json.dumps(planned["outputs"]))
    result = cli("comment", "--outputs", str(tmp_path / "outputs.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\n".join([
        "<!-- review-environment -->",
        "### Review environment `pr-123`",
        "",
        "| | |",
        "|---|---|",
        "| API | https://pr-123-api-dev.example.com |",
        "| Web | https://pr-123-dev.example.com |",
        "| Namespace | `pr-123` in dev's cluster (`app-config`, `app-secrets`) |",
        "| Database | `pr_123` on dev's RDS instance, role `pr_123_app` |",
        "",
        "Marginal cost in dev: $3.27/month: database $0.23, pods $3.04, dns $0.00.",
        "",
        "Destroyed when the pull request closes, or after 7 days without a push; at most 5 review environments at once (the one with the oldest push goes first).",
        "",
    ])


@pytest.mark.parametrize(
    "args, message",
    [
        (("plan",), "error: review plan needs --pr NUMBER"),
        (("gc",), "error: review gc needs --stacks FILE (pulumi stack ls --json) and --open-prs FILE (gh pr list --json number)"),
        (("comment",), "error: review comment needs --outputs FILE (pulumi stack output --json)"),
    ],
)
def test_review_cli_bad_input_is_one_line(args, message):
    result = cli(*args)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", message)
