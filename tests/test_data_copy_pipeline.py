"""Where the anonymized copy runs (issue 18, items 3-5; infra/components/data_copy.py).

- config: platform:data_copy per committed stack, and one ConfigError line per bad input
  (a side in the wrong tier, the source without a replica, a bad cron, zone or tag, the other
  side's fields);
- prod (source): the dumps' key (the target's restore role decrypts through S3 only), the
  bucket (SSE-KMS with that key, 3-day lifecycle, the role may list and get, TLS only), the
  job's IRSA role (put, the key, rds-db:connect as team_read_only on the replica only), the
  CronJob on the replica, the ECR repository; the policy pack passes;
- staging (target): the restore role by its fixed name, its grants, the CronJob with the roles
  Job's Secret; the two stacks name each other consistently;
- the DataCopyFailed rule in kube-prometheus-stack's values, the cost lines, the image;
- on a real PostgreSQL: the dump's session options outrank team_read_only's one-minute cap.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import config
from infra.components import data_copy
from infra.config import ConfigError
from infra.cost.model import estimate
from tests.conftest import plan, stack_config

ROOT = Path(__file__).resolve().parents[1]
CRON_JOB = "kubernetes:batch/v1:CronJob"
KEY = "aws:kms/key:Key"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
PROD_BUCKET = "platform-prod-data-copy-123456789012-us-east-1"
RESTORE_ROLE = "arn:aws:iam::210987654321:role/platform-staging-data-restore"


def raw_of(stack: str) -> dict[str, Any]:
    return {k.removeprefix("platform:"): v for k, v in stack_config(stack).items() if k.startswith("platform:")}


def parse(raw: dict[str, Any], stack: str) -> config.StackConfig:
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"})


def policy(state: dict[str, Any]) -> dict[str, Any]:
    return json.loads(state["inputs"]["policy"])


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in document["Statement"] if s.get("Sid") == sid]
    return found


# ---------------------------------------------------------------------------- config


def test_committed_sections() -> None:
    prod = parse(raw_of("prod"), "prod").data_copy
    assert prod is not None and (prod.role, prod.schedule, prod.timezone, prod.target_account_id, prod.keep_dumps_days) == (
        "source", "0 2 * * 6", "Europe/Madrid", "210987654321", 3,
    )  # fmt: skip
    staging = parse(raw_of("staging"), "staging").data_copy
    assert staging is not None and (staging.role, staging.schedule, staging.source_account_id, staging.source_bucket) == (
        "target", "0 7 * * 6", "123456789012", PROD_BUCKET,
    )  # fmt: skip
    assert parse(raw_of("dev"), "dev").data_copy is None


def test_the_stacks_name_each_other() -> None:
    prod, staging = parse(raw_of("prod"), "prod"), parse(raw_of("staging"), "staging")
    assert staging.data_copy.source_bucket == config.data_copy_bucket_name(prod.name, prod.account.id, prod.aws.region)
    assert staging.data_copy.source_account_id == prod.account.id
    assert prod.data_copy.target_account_id == staging.account.id
    assert data_copy.restore_role_arn(staging.account.id, staging.environment) == RESTORE_ROLE
    # The same image in both: the dump's format and the restore's reader are one program.
    assert prod.data_copy.image_tag == staging.data_copy.image_tag


def _with(stack: str, section: dict[str, Any] | None = None, **other: Any) -> dict[str, Any]:
    raw = raw_of(stack)
    if section is not None:
        raw["data_copy"] = section
    raw.update(other)
    return raw


SOURCE = {"role": "source", "schedule": "0 2 * * 6", "image_tag": "0.1.0", "target_account_id": "210987654321"}
TARGET = {"role": "target", "schedule": "0 4 * * 6", "image_tag": "0.1.0", "source_account_id": "123456789012", "source_bucket": PROD_BUCKET}


def test_the_restore_starts_after_the_dumps_deadline() -> None:
    """Staging's restore takes the newest whole dump: one that may still be running (up to its
    deadline) would be missed, and last week's has expired by then (keep_dumps_days 3)."""
    from infra import cron

    source, target = stack_config("prod")["platform:data_copy"], stack_config("staging")["platform:data_copy"]
    assert source["timezone"] == target["timezone"]
    (s_minute, s_hour, *s_days), (t_minute, t_hour, *t_days) = source["schedule"].split(), target["schedule"].split()
    assert s_days == t_days, "the same days: the restore follows each dump"
    start = min(cron.values(s_hour, 0, 23)) * 60 + min(cron.values(s_minute, 0, 59))
    restore = min(cron.values(t_hour, 0, 23)) * 60 + min(cron.values(t_minute, 0, 59))
    deadline_hours = config.DataCopyConfig(**source).deadline_hours
    assert restore - start >= (deadline_hours + 1) * 60


@pytest.mark.parametrize(
    "stack, section, key, says",
    [
        ("staging", SOURCE, "data_copy.role", "'source' is allowed only in a production tier, and this stack is staging"),
        ("prod", TARGET, "data_copy.role", "'target' is allowed only in a staging tier, and this stack is production (a copy is never restored into prod)"),
        ("dev", TARGET, "data_copy.role", "'target' is allowed only in a staging tier, and this stack is development (dev runs seed fixtures"),
        ("dev", SOURCE, "data_copy.role", "'source' is allowed only in a production tier"),
        ("prod", {**SOURCE, "schedule": "0 2 * *"}, "data_copy.schedule", "has 4 fields; allowed: five"),
        ("prod", {**SOURCE, "schedule": "0 25 * * 6"}, "data_copy.schedule", "the hour field allows 0-23, got 25"),
        ("prod", {**SOURCE, "schedule": "0 2 * * SAT"}, "data_copy.schedule", "the day of week field 'SAT' is not *, a number, a range or a step"),
        ("prod", {**SOURCE, "schedule": "TZ=UTC 0 2 * *"}, "data_copy.schedule", "is not *, a number"),
        ("prod", {**SOURCE, "timezone": "Europe/Atlantis"}, "data_copy.timezone", "'Europe/Atlantis' is not an IANA time zone"),
        ("prod", {**SOURCE, "image_tag": "latest"}, "data_copy.image_tag", "'latest' is not a pinned image tag"),
        ("prod", {k: v for k, v in SOURCE.items() if k != "image_tag"}, "data_copy.image_tag", "required, not set"),
        ("prod", {k: v for k, v in SOURCE.items() if k != "target_account_id"}, "data_copy", "target_account_id is required with role source"),
        ("prod", {**SOURCE, "source_bucket": PROD_BUCKET}, "data_copy", "source_bucket is set, but it belongs to the other side's role"),
        ("staging", {**TARGET, "keep_dumps_days": 3}, "data_copy", "keep_dumps_days is set, but it belongs to the other side's role"),
        ("staging", {**TARGET, "source_bucket": "Prod_Bucket"}, "data_copy.source_bucket", "'Prod_Bucket' is not an S3 bucket name"),
        ("prod", {**SOURCE, "keep_dumps_days": 0}, "data_copy.keep_dumps_days", "must be >= 1"),
        ("prod", {**SOURCE, "target_account_id": "123456789012"}, "data_copy.target_account_id", "is this stack's own account"),
        ("staging", {**TARGET, "source_account_id": "210987654321"}, "data_copy.source_account_id", "is this stack's own account"),
        ("prod", {**SOURCE, "scheduel": "0 2 * * 6"}, "data_copy.scheduel", "unknown key; allowed:"),
    ],
)
def test_bad_config_is_one_line(stack: str, section: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(_with(stack, section), stack)
    assert error.value.key == f"platform:{key}"
    assert says in error.value.problem
    assert "\n" not in str(error.value)


def test_the_source_needs_a_replica() -> None:
    raw = _with("prod")
    raw["database"] = {**raw["database"], "read_replicas": 0}
    with pytest.raises(ConfigError) as error:
        parse(raw, "prod")
    assert str(error.value) == "platform:data_copy.role: 'source' reads the read replica, never the primary: set database.read_replicas to at least 1"


# ---------------------------------------------------------------------------- prod: the source


def test_the_dumps_key_lets_only_the_restore_role_decrypt_through_s3() -> None:
    key = plan("prod").named(KEY, "-data-copy-key")
    assert key["inputs"]["enableKeyRotation"] is True
    assert key["protect"] is True and key["retainOnDelete"] is True
    decrypt = statement(policy(key), "TheRestoreRoleDecryptsThroughS3")
    assert decrypt == {
        "Sid": "TheRestoreRoleDecryptsThroughS3",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": RESTORE_ROLE}, "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    }
    assert [s["Sid"] for s in policy(key)["Statement"]] == ["AccountIamPoliciesGovernTheKey", "TheRestoreRoleDecryptsThroughS3"]


def test_the_bucket() -> None:
    p = plan("prod")
    bucket = p.named("aws:s3/bucket:Bucket", "-data-copy-bucket")
    assert bucket["inputs"]["bucket"] == PROD_BUCKET
    encryption = p.named("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "-data-copy-bucket-encryption")
    default = encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert default["kmsMasterKeyId"] != p.outputs["kms_key_arn"], "the dumps' own key, not the stack's"
    (expire, _) = p.named(LIFECYCLE, "-data-copy-bucket-lifecycle")["inputs"]["rules"]
    assert expire["expiration"] == {"days": 3}
    document = policy(p.named(BUCKET_POLICY, "-data-copy-bucket-policy"))
    assert [s["Sid"] for s in document["Statement"]] == ["DenyInsecureTransport", "TheRestoreRoleLists", "TheRestoreRoleReads"]
    arn = f"arn:aws:s3:::{PROD_BUCKET}"
    only = {"ArnEquals": {"aws:PrincipalArn": RESTORE_ROLE}}
    assert statement(document, "TheRestoreRoleLists") == {
        "Sid": "TheRestoreRoleLists", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "s3:ListBucket", "Resource": arn, "Condition": only,
    }  # fmt: skip
    assert statement(document, "TheRestoreRoleReads") == {
        "Sid": "TheRestoreRoleReads", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "s3:GetObject", "Resource": f"{arn}/*", "Condition": only,
    }  # fmt: skip


def test_the_jobs_role_puts_dumps_and_reads_the_replica_only() -> None:
    p = plan("prod")
    document = policy(p.named(ROLE_POLICY, "-data-copy-policy"))
    assert statement(document, "PutTheDumps")["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert statement(document, "PutTheDumps")["Resource"] == f"arn:aws:s3:::{PROD_BUCKET}/*"
    key = statement(document, "TheKeyThroughS3")
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert key["Resource"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    connect = statement(document, "ReadTheReplica")
    assert connect["Action"] == "rds-db:connect"
    assert re.fullmatch(r"arn:aws:rds-db:us-east-1:123456789012:dbuser:[^/]+/team_read_only", connect["Resource"])
    trust = json.loads(p.named(ROLE, "-data-copy-role")["inputs"]["assumeRolePolicy"])
    assert "system:serviceaccount:platform-db:data-copy" in json.dumps(trust)


def _container(cron_job: dict[str, Any]) -> dict[str, Any]:
    (container,) = cron_job["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


def test_the_source_cron_job() -> None:
    p = plan("prod")
    job = p.named(CRON_JOB, "-data-copy")
    spec = job["inputs"]["spec"]
    assert job["inputs"]["metadata"]["namespace"] == "platform-db"
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("0 2 * * 6", "Europe/Madrid", "Forbid")
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 4 * 3600
    container = _container(job)
    assert container["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/platform-data:0.1.0"
    key_arn = p.named(KEY, "-data-copy-key")["outputs"]["arn"]
    assert container["command"] == ["python", "-m", "infra.data.job", "source", "--bucket", PROD_BUCKET, "--key-arn", key_arn, "--region", "us-east-1"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    reader = p.outputs["database_reader_endpoint"]
    assert reader != p.outputs["database_endpoint"]
    assert env["SOURCE_DATABASE_URL"].startswith(f"postgresql://team_read_only@{reader}:5432/app?sslmode=require")
    # No password anywhere: the Job signs an IAM token for the URL's host, port and user.
    assert sorted(env) == ["HOME", "SOURCE_DATABASE_URL", "TMPDIR"] and ":@" not in env["SOURCE_DATABASE_URL"]
    assert container["envFrom"] == [{"secretRef": {"name": "data-copy-masking-key"}}]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "data-copy" and pod["securityContext"]["runAsNonRoot"] is True
    account = p.named("kubernetes:core/v1:ServiceAccount", "-data-copy-sa")
    assert account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/")


def test_the_masking_key_is_a_secret() -> None:
    secret = plan("prod").named("kubernetes:core/v1:Secret", "-data-copy-secret")
    assert secret["inputs"]["stringData"] == "[secret]"


def test_the_image_repository() -> None:
    p = plan("prod")
    repo = p.named("aws:ecr/repository:Repository", "-data-image")
    assert repo["inputs"]["name"] == "platform-data"
    assert repo["inputs"]["imageTagMutability"] == "IMMUTABLE"
    pull = policy(p.named("aws:ecr/repositoryPolicy:RepositoryPolicy", "-data-image-policy"))["Statement"][0]
    assert pull["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert not any(a.startswith("ecr:Put") for a in pull["Action"])


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_the_pipeline_passes_the_policy_pack(stack: str) -> None:
    """Not even an advisory on the copy's resources (tests/test_policy.py runs the whole CLI)."""
    from infra.review import check

    report = check.check_plan(plan(stack).data)
    assert report.mandatory == []
    assert [(v.rule, v.urn) for v in report.violations if "data-" in v.urn] == []


# ---------------------------------------------------------------------------- staging: the target


def test_the_restore_role() -> None:
    p = plan("staging")
    role = p.named(ROLE, "-data-restore-role")
    assert role["inputs"]["name"] == "platform-staging-data-restore"
    assert "system:serviceaccount:platform-db:data-restore" in role["inputs"]["assumeRolePolicy"]
    document = policy(p.named(ROLE_POLICY, "-data-restore-policy"))
    arn = f"arn:aws:s3:::{PROD_BUCKET}"
    assert document == data_copy.restore_policy("123456789012", arn)
    assert statement(document, "GetTheDumps") == {"Sid": "GetTheDumps", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}
    decrypt = statement(document, "TheSourceKeyThroughS3")
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == "arn:aws:kms:*:123456789012:key/*"
    assert decrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [arn, f"{arn}/*"]
    assert not any("Put" in json.dumps(s["Action"]) or "Delete" in json.dumps(s["Action"]) for s in document["Statement"])


def test_the_target_cron_job() -> None:
    p = plan("staging")
    job = p.named(CRON_JOB, "-data-restore")
    spec = job["inputs"]["spec"]
    assert job["inputs"]["metadata"]["namespace"] == "platform-db"
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("0 7 * * 6", "Europe/Madrid", "Forbid")
    container = _container(job)
    assert container["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/platform-data:0.1.0"
    assert container["envFrom"] == [{"secretRef": {"name": "db-roles-credentials"}}]
    assert container["command"] == [
        "python", "-m", "infra.data.job", "target", "--bucket", PROD_BUCKET, "--region", "us-east-1", "--target", "app", "--owner", "app_migrator", "--roles",
    ]  # fmt: skip
    assert p.named("kubernetes:core/v1:ServiceAccount", "-data-restore-sa")["inputs"]["metadata"]["name"] == "data-restore"


def test_staging_has_no_source_and_prod_no_target() -> None:
    assert not [s for s in plan("staging").states if s["type"].startswith("platform:data_copy:DataCopySource")]
    assert not [s for s in plan("prod").states if s["type"].startswith("platform:data_copy:DataCopyTarget")]
    assert not [s for s in plan("dev").states if s["type"].startswith("platform:data_copy:")]


# ---------------------------------------------------------------------------- the alert, the cost


def _rules(stack: str) -> list[dict[str, Any]]:
    (release,) = [s for s in plan(stack).of_type(RELEASE) if s["urn"].endswith("-kube-prometheus-stack")]
    return release["inputs"]["values"]["additionalPrometheusRulesMap"]["platform"]["groups"][0]["rules"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_data_copy_failed_alert(stack: str) -> None:
    (rule,) = [r for r in _rules(stack) if r["alert"] == "DataCopyFailed"]
    assert rule["expr"] == 'max by (namespace, job_name) (kube_job_status_failed{namespace="platform-db", job_name=~"data-(copy|restore)-.+"}) > 0'
    assert rule["labels"] == {"severity": "warning"}
    assert "{{" not in json.dumps(rule)


@pytest.mark.parametrize(("stack", "cron_job", "side"), [("prod", "data-copy", "the dump of prod's replica"), ("staging", "data-restore", "the restore into staging (its database is untouched)")])
def test_data_copy_not_run_alert(stack: str, cron_job: str, side: str) -> None:
    """Weekly, a 4-hour deadline and 2 hours of lateness: 174 hours without a success."""
    (rule,) = [r for r in _rules(stack) if r["alert"] == "DataCopyNotRun"]
    selector = f'namespace="platform-db", cronjob="{cron_job}"'
    assert rule["expr"] == (
        f"(time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{{{selector}}}) > 626400)"
        f" or (time() - max by (namespace, cronjob) (kube_cronjob_created{{{selector}}}) > 626400"
        f" unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{{{selector}}})"
    )
    assert (rule["for"], rule["labels"]) == ("15m", {"severity": "warning"})
    schedule = stack_config(stack)["platform:data_copy"]["schedule"]
    assert rule["annotations"]["summary"] == f"No successful run of {side} for 174 hours (schedule '{schedule}' in Europe/Madrid): kubectl -n platform-db get cronjob,jobs (docs/data.md)."


@pytest.mark.parametrize(
    ("schedule", "deadline_hours", "hours"),
    [("0 2 * * 6", 4, 174), ("0 2 * * *", 4, 30), ("0 2 * * 1-5", 1, 75), ("0 2 1 * *", 24, 31 * 24 + 26)],
)
def test_the_not_run_limit_follows_the_schedule(schedule: str, deadline_hours: int, hours: int) -> None:
    from infra.telemetry import data_copy_overdue_hours

    cfg = config.DataCopyConfig(role="source", schedule=schedule, image_tag="0.1.0", target_account_id="210987654321", deadline_hours=deadline_hours)
    assert data_copy_overdue_hours(cfg) == hours


def test_the_alert_matches_the_jobs_names() -> None:
    pattern = re.compile(r"data-(copy|restore)-.+")
    # The CronJob's Jobs are <cronjob>-<minutes since epoch>; the documented on-demand run too.
    for name in ("data-copy-29012345", "data-restore-29012345", "data-copy-manual-1765000000"):
        assert pattern.fullmatch(name)
    assert not pattern.fullmatch("db-roles-0123456789ab")


def test_cost_lines() -> None:
    prod = [i for i in plan("prod").outputs["cost"]["items"] if i["component"] == "data"]
    storage = Decimal(2) * Decimal(3) / Decimal(7) * Decimal("0.023")
    assert [(i["resource"], i["unit"], i["unit_price"]) for i in prod] == [
        ("data-copy-bucket", "GB-month", 0.023), ("data-copy-key", "key-month", 1.0), ("data-image", "GB-month", 0.10),
    ]  # fmt: skip
    assert prod[0]["quantity"] == pytest.approx(float(Decimal(6) / 7), abs=1e-3)
    assert prod[0]["monthly"] == pytest.approx(float(storage), abs=0.01)
    assert prod[1]["monthly"] == 1.0
    assert (prod[2]["quantity"], prod[2]["monthly"]) == (1, 0.1)  # platform:cost.data_image_gb's default
    for stack in ("staging", "dev"):
        assert not [i for i in plan(stack).outputs["cost"]["items"] if i["component"] == "data"]


def test_cost_follows_the_assumption_and_the_retention() -> None:
    raw = _with("prod", {**SOURCE, "keep_dumps_days": 7}, cost={"data_dump_gb": 10, "data_image_gb": 3})
    (storage, _, image) = [i for i in estimate(parse(raw, "prod"))["items"] if i["component"] == "data"]
    assert storage["quantity"] == 10 and storage["monthly"] == pytest.approx(0.23)
    assert image["quantity"] == 3 and image["monthly"] == pytest.approx(0.30)


# ---------------------------------------------------------------------------- the image, the session


def _image_requirements() -> dict[str, str]:
    text = (ROOT / "requirements-image.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.M))
    for name in pins:  # every pin carries its hashes (pip --require-hashes refuses one without)
        assert re.search(rf"^{re.escape(name)}==\S+ \\\n    --hash=sha256:[0-9a-f]{{64}}", text, re.M), name
    return {canonicalize_name(name): version for name, version in pins.items()}


def _closure(roots: list[str]) -> dict[str, str]:
    """The distributions `roots` need on this interpreter, with the versions installed here."""
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist.version
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _image_imports() -> tuple[set[str], set[str]]:
    """What the image's Python files import: the project's modules and the third-party top levels."""
    own, others = set(), set()
    for path in [ROOT / "infra/dbroles.py", *sorted((ROOT / "infra/data").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from infra import dbroles` imports the package and its module.
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names if (ROOT / node.module.replace(".", "/") / f"{a.name}.py").exists())]
            for name in names:
                if name.split(".")[0] == "infra":
                    own.add(name)
                elif name.split(".")[0] not in sys.stdlib_module_names and name != "__future__":
                    others.add(name.split(".")[0])
    return own, others


def test_the_image_installs_exactly_what_the_suite_ran() -> None:
    """--no-deps --require-hashes: the file must hold the whole closure, at the suite's versions."""
    pins = _image_requirements()
    _, imported = _image_imports()
    distributions = metadata.packages_distributions()
    # psycopg's libpq: psycopg-binary, which psycopg imports by itself (no import names it).
    roots = sorted({distributions[top][0] for top in imported} | {"psycopg-binary"})
    assert pins == _closure(roots), "requirements-image.txt differs from the suite's venv: regenerate it (its header says how)"
    for name in ("pydantic", "pyyaml", "psycopg", "psycopg-binary", "faker", "boto3", "botocore"):
        assert re.search(rf"^{name}=={re.escape(pins[name])}$", (ROOT / "requirements.txt").read_text(), re.M | re.I), name


def test_the_image_holds_the_modules_the_job_imports() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.M)
    sources = {part for line in copied for part in line.split()}
    own, _ = _image_imports()
    for module in sorted(own):
        path = module.replace(".", "/")
        file = f"{path}.py" if (ROOT / f"{path}.py").exists() else f"{path}/__init__.py"
        assert file in sources or any(file.startswith(s) for s in sources if s.endswith("/")), f"{module}: not copied into the image"
    assert "data/masking.yaml" in sources
    assert "pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements-image.txt" in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    from infra.versions import DATA_IMAGE_UID

    assert DATA_IMAGE_UID == 10001


def test_the_source_url_carries_the_session_options() -> None:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(data_copy.source_url("replica.example", 5432, "app", 4))
    assert info == {
        "user": "team_read_only", "host": "replica.example", "port": "5432", "dbname": "app",
        "sslmode": "require", "connect_timeout": "10", "options": "-c statement_timeout=4h -c idle_in_transaction_session_timeout=4h",
    }  # fmt: skip


@pytest.mark.xdist_group("postgres")  # the one server of tests/postgres.py, on its worker
def test_the_session_options_outrank_the_roles_cap(postgres) -> None:
    """On a real PostgreSQL: a role with team_read_only's own settings (infra/dbroles.py) gets
    the Job's deadline from its startup options, and only that session does. Then the idle
    transaction the dump holds while it compresses a table, with the role's idle cap lowered
    to a second: the Job's session survives the pause, a person's is cut."""
    import time

    import psycopg

    from infra import dbroles

    (reader,) = [r for r in dbroles.ROLES if r.name == dbroles.READ_ONLY_ROLE]
    settings = dict(reader.settings)
    assert (settings["statement_timeout"], settings["idle_in_transaction_session_timeout"]) == ("1min", "10min")
    with postgres.as_superuser() as admin:
        admin.execute("DROP ROLE IF EXISTS copy_probe")
        admin.execute("CREATE ROLE copy_probe LOGIN PASSWORD 'copy-probe-password'")
        for key, value in settings.items():
            if key != "search_path":
                admin.execute(f"ALTER ROLE copy_probe SET {key} = '{value}'")
    try:
        info = postgres.conninfo("copy_probe", "copy-probe-password")
        with psycopg.connect(**info, options=data_copy.session_options(4), connect_timeout=10) as conn:
            assert conn.execute("SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')").fetchone() == ("4h", "4h")
        with psycopg.connect(**info, connect_timeout=10) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
        with postgres.as_superuser() as admin:
            admin.execute("ALTER ROLE copy_probe SET idle_in_transaction_session_timeout = '1s'")
        with psycopg.connect(**info, options=data_copy.session_options(4), connect_timeout=10) as conn:
            with conn.transaction():
                conn.execute("SELECT 1")
                time.sleep(1.5)
                assert conn.execute("SELECT 2").fetchone() == (2,)
        with psycopg.connect(**info, connect_timeout=10) as conn:
            with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
                with conn.transaction():
                    conn.execute("SELECT 1")
                    time.sleep(1.5)
                    conn.execute("SELECT 2")
    finally:
        with postgres.as_superuser() as admin:
            admin.execute("DROP ROLE IF EXISTS copy_probe")


def test_the_image_workflow_reads_prods_region_as_the_stack_does() -> None:
    """The workflow's own line, run here against the committed stack file."""
    import subprocess

    workflow = (ROOT / ".github/workflows/data-image.yml").read_text()
    (line,) = [ln.strip() for ln in workflow.splitlines() if ln.strip().startswith('region="$(sed')]
    done = subprocess.run(["bash", "-c", f'{line}; printf %s "$region"'], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    assert done.stdout == stack_config("prod")["aws:region"]
