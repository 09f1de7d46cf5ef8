"""The copy's Jobs (infra/data/job.py) end to end: a real PostgreSQL 17 (the `postgres` fixture,
databases of tests/test_data_copy.py) and S3 and KMS as moto emulates them in process
(boto3's own calls, its transfer manager included). What AWS itself would refuse (the key
policy, the bucket policy, the cross-account grants) is the policy pack's and
tests/test_data_copy_pipeline.py's; here: what the Job does with the bucket.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from infra.data import job
from tests.test_data_copy import ORIGINALS, RULES, SOURCE, TARGET, all_text, fetch, server  # noqa: F401 (server: the fixture)

pytestmark = pytest.mark.xdist_group("postgres")

REGION = "eu-west-1"
BUCKET = "platform-prod-data-copy-123456789012-eu-west-1"


@pytest.mark.parametrize(
    ("keys", "newest"),
    [
        ([], None),
        (["dumps/20261128T010000Z/copy.tar.gz", "dumps/20261128T010000Z/report.json"], "20261128T010000Z"),
        # A run whose report is missing (failed, or still uploading) is not whole: the one before is.
        (
            ["dumps/20261121T010000Z/copy.tar.gz", "dumps/20261121T010000Z/report.json", "dumps/20261128T010000Z/copy.tar.gz"],
            "20261121T010000Z",
        ),
        # A report without its dump (the dump expired first, or was deleted by hand) neither.
        (["dumps/20261128T010000Z/report.json"], None),
        # Anything else under the prefix is no run.
        (["dumps/latest/copy.tar.gz", "dumps/latest/report.json", "dumps/20261128T010000Z/copy.tar.gz.tmp"], None),
        # Lexical order of UTC stamps is time order, across months and years.
        (
            [f"dumps/{s}/{n}" for s in ("20261226T010000Z", "20270102T010000Z", "20260101T235959Z") for n in ("copy.tar.gz", "report.json")],
            "20270102T010000Z",
        ),
    ],
)
def test_newest_dump(keys: list[str], newest: str | None) -> None:
    assert job.newest_dump(keys) == newest


def test_the_master_url_comes_from_the_roles_secret() -> None:
    env = {"PGHOST": "db.internal", "PGPORT": "5432", "PGUSER": "platform", "PGPASSWORD": "s3cr3t"}
    assert conninfo_to_dict(job.master_url(env)) == {
        "host": "db.internal", "port": "5432", "user": "platform", "password": "s3cr3t", "dbname": "postgres", "sslmode": "require", "connect_timeout": "10",
    }  # fmt: skip
    with pytest.raises(job.JobError, match=r"^PGPASSWORD: not set; allowed: the roles Job's Secret"):
        job.master_url({**env, "PGPASSWORD": ""})


def test_the_iam_token_is_signed_for_the_urls_host_port_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 signs locally (no call to AWS): the token is a presigned `connect` for that user."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    client = boto3.client("rds", region_name=REGION)
    with Stubber(client):  # any call to AWS would fail here: signing makes none
        token = job.iam_token_maker(REGION, client)("postgresql://team_read_only@replica.example.rds.amazonaws.com:5432/app?sslmode=require")
    url = urlsplit("https://" + token)
    query = parse_qs(url.query)
    assert (url.hostname, url.port, query["Action"], query["DBUser"]) == ("replica.example.rds.amazonaws.com", 5432, ["connect"], ["team_read_only"])
    assert query["X-Amz-Credential"][0].split("/")[2:4] == [REGION, "rds-db"]
    with pytest.raises(job.JobError, match=r"^SOURCE_DATABASE_URL: no user"):
        job.iam_token_maker(REGION, client)("postgresql://replica.example.rds.amazonaws.com/app")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto's S3 and KMS, with the dumps bucket and its key."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        key_arn = kms.create_key(Description="dumps")["KeyMetadata"]["Arn"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3, key_arn


@pytest.fixture
def job_env(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 (the fixture imported above)
    """The two Jobs' environments on the test server: the source as its CronJob has it (a URL
    without a password: the token supplies it), the target's PG* from the roles Secret."""
    rules = tmp_path / "masking.yaml"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    info = server.conninfo(server.master, dbname=SOURCE)
    monkeypatch.setenv("SOURCE_DATABASE_URL", make_conninfo(**info, sslmode="disable"))
    monkeypatch.setenv("DATA_MASKING_KEY", "k" * 32)
    for name, value in {"PGHOST": str(server.socket_dir), "PGPORT": "5432", "PGUSER": server.master, "PGPASSWORD": server.master_password, "PGSSLMODE": "disable"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "source").mkdir()
    (tmp_path / "target").mkdir()
    return rules


def source(s3, key_arn: str, rules: Path, work: Path, server, stamp: datetime | None = None, tokens: list[str] | None = None) -> int:  # noqa: F811
    def token(url: str) -> str:
        if tokens is not None:
            tokens.append(url)
        return server.master_password

    argv = ["source", "--bucket", BUCKET, "--key-arn", key_arn, "--region", REGION, "--rules", str(rules), "--work", str(work)]
    if stamp is None:
        return job.main(argv, s3=s3, token=token)
    return job.run_source(bucket=BUCKET, key_arn=key_arn, rules=str(rules), work=work, s3=s3, token=token, now=lambda: stamp)


def objects(s3) -> dict[str, dict]:
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: s3.head_object(Bucket=BUCKET, Key=item["Key"]) for item in listing}


def test_the_source_dumps_masked_and_uploads_under_the_key_then_the_target_restores_it(server, aws, job_env, tmp_path, capsys):  # noqa: F811
    s3, key_arn = aws
    tokens: list[str] = []
    assert source(s3, key_arn, job_env, tmp_path / "source", server, tokens=tokens) == 0
    # A fresh token for each step: the check and the dump.
    assert tokens == [os.environ["SOURCE_DATABASE_URL"]] * 2
    stored = objects(s3)
    (stamp,) = {key.split("/")[1] for key in stored}
    assert sorted(stored) == [f"dumps/{stamp}/copy.tar.gz", f"dumps/{stamp}/report.json"]
    assert {(h["ServerSideEncryption"], h["SSEKMSKeyId"]) for h in stored.values()} == {("aws:kms", key_arn)}
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"dumps/{stamp}/report.json")["Body"].read())
    assert (report["outcome"], [(t["table"], t["rows"]) for t in report["tables"]]) == ("dumped", [("app.events", 3), ("app.orders", 9), ("app.users", 3)])
    # What left prod holds no original value.
    body = s3.get_object(Bucket=BUCKET, Key=f"dumps/{stamp}/copy.tar.gz")["Body"].read()
    assert [o for o in ORIGINALS if o.encode() in gzip.decompress(body).lower()] == []
    assert capsys.readouterr().out.splitlines()[-1] == f"uploaded s3://{BUCKET}/dumps/{stamp}/"

    argv = ["target", "--bucket", BUCKET, "--region", REGION, "--target", TARGET, "--work", str(tmp_path / "target")]
    assert job.main(argv, s3=s3) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"restoring s3://{BUCKET}/dumps/{stamp}/copy.tar.gz"
    assert out.splitlines()[1].startswith("copy swapped: 3 tables, 15 rows, 8 masked columns (")
    assert fetch(server, TARGET, "SELECT (SELECT count(*) FROM app.users), (SELECT count(*) FROM app.orders), (SELECT count(*) FROM app.events)") == [(3, 9, 3)]
    text = "\n".join(all_text(server, TARGET)).lower()
    assert [o for o in ORIGINALS if o in text] == []


def test_a_failed_check_uploads_nothing(server, aws, job_env, tmp_path, capsys):  # noqa: F811
    s3, key_arn = aws
    rules = json.loads(job_env.read_text())
    del rules["columns"]["app.users.phone"]
    job_env.write_text(json.dumps(rules), encoding="utf-8")
    assert source(s3, key_arn, job_env, tmp_path / "source", server) == 1
    assert objects(s3) == {}
    assert capsys.readouterr().err.startswith(f"error: app.users.phone: not classified in {job_env}; allowed: ")


def test_the_target_takes_the_newest_whole_dump(server, aws, job_env, tmp_path, capsys):  # noqa: F811
    s3, key_arn = aws
    older, newer = datetime(2026, 11, 21, 1, tzinfo=timezone.utc), datetime(2026, 11, 28, 1, tzinfo=timezone.utc)
    assert source(s3, key_arn, job_env, tmp_path / "source", server, stamp=older) == 0
    assert source(s3, key_arn, job_env, tmp_path / "source", server, stamp=newer) == 0
    s3.delete_object(Bucket=BUCKET, Key="dumps/20261128T010000Z/report.json")  # the newer one is not whole
    capsys.readouterr()
    assert job.run_target(bucket=BUCKET, database=TARGET, owner=None, roles=False, work=tmp_path / "target", s3=s3) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"restoring s3://{BUCKET}/dumps/20261121T010000Z/copy.tar.gz"


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (None, f"error: s3://{BUCKET}/dumps/: no whole dump (a report beside its dump); the source's copy failed or has not run, and dumps expire after a few days"),
        ("failed", f"error: s3://{BUCKET}/dumps/20261128T010000Z/report.json: outcome 'failed'; allowed: a report whose outcome is 'dumped'"),
        ("corrupt", f"error: restore: {{work}}/copy.tar.gz: not a gzip file; allowed: a .tar.gz written by `python -m infra.data.copy dump`"),
        # Cut short (an upload that lost its tail): the manifest reads, a table's rows do not.
        ("truncated", f"error: restore: {{work}}/copy.tar.gz: damaged ("),
    ],
)
def test_a_target_without_a_good_dump_fails_and_leaves_staging_as_it_was(server, aws, job_env, tmp_path, capsys, prepare, message):  # noqa: F811
    s3, key_arn = aws
    dump, report = job.dump_keys("20261128T010000Z")
    if prepare == "truncated":
        assert source(s3, key_arn, job_env, tmp_path / "source", server, stamp=datetime(2026, 11, 28, 1, tzinfo=timezone.utc)) == 0
        whole = s3.get_object(Bucket=BUCKET, Key=dump)["Body"].read()
        s3.put_object(Bucket=BUCKET, Key=dump, Body=whole[: len(whole) * 2 // 3])
    elif prepare:
        s3.put_object(Bucket=BUCKET, Key=report, Body=json.dumps({"outcome": prepare if prepare == "failed" else "dumped"}).encode())
        s3.put_object(Bucket=BUCKET, Key=dump, Body=b"not a tar.gz")
    capsys.readouterr()
    argv = ["target", "--bucket", BUCKET, "--region", REGION, "--target", TARGET, "--work", str(tmp_path / "target")]
    assert job.main(argv, s3=s3) == 1
    err = capsys.readouterr().err
    assert err.startswith(message.format(work=tmp_path / "target")) and err.count("\n") == 1
    assert fetch(server, TARGET, "SELECT note FROM yesterday") == [("staging as it was",)]


def test_bad_arguments_are_one_line(aws, capsys):
    s3, _ = aws
    assert job.main(["source", "--bucket", BUCKET, "--region", REGION], s3=s3) == 1
    assert capsys.readouterr().err == "error: --key-arn: missing; allowed: the dumps key's ARN (DataCopySource.key_arn)\n"
    assert job.main(["target", "--bucket", BUCKET, "--region", REGION], s3=s3) == 1
    assert capsys.readouterr().err == "error: --target: missing; allowed: the name of the database to replace (staging's database)\n"


@pytest.mark.parametrize("module", ["infra.data.job", "infra.data.copy"])
def test_help_names_the_usage_once(module: str, capsys) -> None:
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert out.startswith(f"usage: python -m {module} ") and out.count("usage:") == 1
    assert ("the pod's IRSA web identity" if module == "infra.data.job" else "$TARGET_DATABASE_URL") in out
