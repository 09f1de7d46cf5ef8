"""The copy's two Kubernetes Jobs (infra/components/data_copy.py): the steps of infra/data/copy.py
between a database and the dumps bucket, with boto3 for AWS (no shell, no AWS CLI in the image).

`python -m infra.data.job source` (prod's CronJob `data-copy`):
1. an IAM authentication token for $SOURCE_DATABASE_URL's host, port and user (the read
   replica, team_read_only), signed with the pod's IRSA credentials; a new one per step,
   since a token is accepted for 15 minutes after it was made (RDS user guide, "IAM database
   authentication": the token's lifetime) and the dump may start later than that;
2. `check`, then `dump` (copy.py), into the Job's scratch directory;
3. the dump, then its report, to `s3://<bucket>/dumps/<UTC stamp>/` with SSE-KMS under the
   dumps key; the report goes last and only after a whole dump, so its presence marks one.

`python -m infra.data.job target` (staging's CronJob `data-restore`):
1. the newest stamp under `dumps/` that has both the report and the dump (`newest_dump`), and
   whose report says `dumped`;
2. both downloaded, then `restore` (copy.py) as the master from the roles Job's Secret (PG*
   variables and the verifiers): a new database, the roles script, verified, swapped in.

Any failure is one line on stderr and exit 1; the Job fails (backoffLimit 0) and
DataCopyFailed fires (infra/telemetry.py); a copy that stops running is DataCopyNotRun.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infra.data import copy

DUMPS_PREFIX = "dumps/"
DUMP_NAME = "copy.tar.gz"
REPORT_NAME = "report.json"
# The stamp of a run: UTC, so that the lexical order of the keys is the order of the runs.
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMPED = re.compile(rf"^{re.escape(DUMPS_PREFIX)}(\d{{8}}T\d{{6}}Z)/({re.escape(DUMP_NAME)}|{re.escape(REPORT_NAME)})$")

USAGE = """\
usage: python -m infra.data.job source --bucket BUCKET --key-arn KEY_ARN --region REGION [--rules FILE] [--work DIR]
       python -m infra.data.job target --bucket BUCKET --region REGION --target DATABASE [--owner ROLE] [--roles] [--work DIR]

source: $SOURCE_DATABASE_URL (the replica; no password: an IAM token is made per step),
$DATA_MASKING_KEY. target: the master's $PGHOST, $PGPORT, $PGUSER, $PGPASSWORD ($PGSSLMODE,
require by default) and, with --roles, $APP_VERIFIER and $MIGRATOR_VERIFIER. AWS credentials
are boto3's (the pod's IRSA web identity). --work: the scratch directory ($TMPDIR, /work)."""


class JobError(RuntimeError):
    """One line: what stopped the Job, and what is allowed."""


def dump_keys(stamp: str) -> tuple[str, str]:
    """The keys of a run's dump and report."""
    return f"{DUMPS_PREFIX}{stamp}/{DUMP_NAME}", f"{DUMPS_PREFIX}{stamp}/{REPORT_NAME}"


def newest_dump(keys: Iterable[str]) -> str | None:
    """The newest stamp with both its dump and its report; a stamp with only one is a run that
    failed or is still uploading, and is skipped."""
    parts: dict[str, set[str]] = {}
    for key in keys:
        match = _STAMPED.match(key)
        if match:
            parts.setdefault(match.group(1), set()).add(match.group(2))
    whole = [stamp for stamp, names in parts.items() if names == {DUMP_NAME, REPORT_NAME}]
    return max(whole, default=None)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for one step (copy.py reads its URLs there), then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def iam_token_maker(region: str, client: Any = None) -> Callable[[str], str]:
    """A function of a libpq URL that signs an IAM authentication token for its host, port and
    user (boto3's generate_db_auth_token: a local signature, no call to AWS)."""
    from psycopg.conninfo import conninfo_to_dict

    if client is None:
        import boto3

        client = boto3.client("rds", region_name=region)

    def token(url: str) -> str:
        info = conninfo_to_dict(url)
        missing = [key for key in ("host", "user") if not info.get(key)]
        if missing:
            raise JobError(f"SOURCE_DATABASE_URL: no {missing[0]}; allowed: postgresql://team_read_only@<replica>:5432/<db>?sslmode=require")
        return client.generate_db_auth_token(DBHostname=str(info["host"]), Port=int(info.get("port") or 5432), DBUsername=str(info["user"]), Region=region)

    return token


def run_source(*, bucket: str, key_arn: str, rules: str, work: Path, s3: Any, token: Callable[[str], str], now: Callable[[], datetime] | None = None) -> int:
    """Check, dump, upload (the dump, then the report); the exit status."""
    url = os.environ.get("SOURCE_DATABASE_URL")
    if not url:
        raise JobError("SOURCE_DATABASE_URL: not set; allowed: the replica's libpq URL (postgresql://team_read_only@<replica>:5432/<db>?sslmode=require)")
    stamp = (now or (lambda: datetime.now(timezone.utc)))().strftime(STAMP_FORMAT)
    dump_path, report_path = work / DUMP_NAME, work / REPORT_NAME
    with _environ(PGPASSWORD=token(url)):
        status = copy.main(["check", "--rules", rules])
    if status:
        return status
    with _environ(PGPASSWORD=token(url)):
        status = copy.main(["dump", "--rules", rules, "--out", str(dump_path), "--report", str(report_path)])
    if status:
        return status
    dump_key, report_key = dump_keys(stamp)
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn}
    s3.upload_file(str(dump_path), bucket, dump_key, ExtraArgs=encryption)
    s3.upload_file(str(report_path), bucket, report_key, ExtraArgs={**encryption, "ContentType": "application/json"})
    print(f"uploaded s3://{bucket}/{DUMPS_PREFIX}{stamp}/")
    return 0


def _keys(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DUMPS_PREFIX):
        for item in page.get("Contents", ()):
            yield item["Key"]


def master_url(environ: dict[str, str] | os._Environ[str]) -> str:
    """The target server as the master, from the roles Job's Secret (libpq's PG* names)."""
    from psycopg.conninfo import make_conninfo

    missing = [name for name in ("PGHOST", "PGUSER", "PGPASSWORD") if not environ.get(name)]
    if missing:
        raise JobError(f"{missing[0]}: not set; allowed: the roles Job's Secret (the master's PGHOST, PGPORT, PGUSER, PGPASSWORD)")
    return make_conninfo(
        host=environ["PGHOST"], port=environ.get("PGPORT") or "5432", user=environ["PGUSER"], password=environ["PGPASSWORD"],
        dbname="postgres", sslmode=environ.get("PGSSLMODE") or "require", connect_timeout="10",
    )  # fmt: skip


def run_target(*, bucket: str, database: str, owner: str | None, roles: bool, work: Path, s3: Any) -> int:
    """Find the newest whole dump, download it, restore it; the exit status."""
    stamp = newest_dump(_keys(s3, bucket))
    if stamp is None:
        raise JobError(f"s3://{bucket}/{DUMPS_PREFIX}: no whole dump (a report beside its dump); the source's copy failed or has not run, and dumps expire after a few days")
    dump_key, report_key = dump_keys(stamp)
    source_report = work / f"source-{REPORT_NAME}"
    s3.download_file(bucket, report_key, str(source_report))
    outcome = json.loads(source_report.read_text(encoding="utf-8")).get("outcome")
    if outcome != "dumped":
        raise JobError(f"s3://{bucket}/{report_key}: outcome '{outcome}'; allowed: a report whose outcome is 'dumped'")
    print(f"restoring s3://{bucket}/{dump_key}")
    dump_path = work / DUMP_NAME
    s3.download_file(bucket, dump_key, str(dump_path))
    argv = ["restore", "--dump", str(dump_path), "--target", database, "--report", str(work / REPORT_NAME)]
    if owner:
        argv += ["--owner", owner]
    if roles:
        argv.append("--roles")
    with _environ(TARGET_DATABASE_URL=master_url(os.environ)):
        return copy.main(argv)


def main(argv: Sequence[str] | None = None, *, s3: Any = None, token: Callable[[str], str] | None = None) -> int:
    import argparse

    from botocore.exceptions import BotoCoreError, ClientError

    usage, _, epilog = USAGE.partition("\n\n")  # argparse writes "usage: " itself
    parser = argparse.ArgumentParser(prog="python -m infra.data.job", usage=usage.removeprefix("usage: "), epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("side", choices=("source", "target"))
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--key-arn")
    parser.add_argument("--rules", default=copy.DEFAULT_RULES)
    parser.add_argument("--target")
    parser.add_argument("--owner")
    parser.add_argument("--roles", action="store_true")
    parser.add_argument("--work", default=os.environ.get("TMPDIR") or "/work")
    args = parser.parse_args(argv)
    try:
        if s3 is None:
            import boto3

            s3 = boto3.client("s3", region_name=args.region)
        work = Path(args.work)
        if args.side == "source":
            if not args.key_arn:
                raise JobError("--key-arn: missing; allowed: the dumps key's ARN (DataCopySource.key_arn)")
            return run_source(bucket=args.bucket, key_arn=args.key_arn, rules=args.rules, work=work, s3=s3, token=token or iam_token_maker(args.region))
        if not args.target:
            raise JobError("--target: missing; allowed: the name of the database to replace (staging's database)")
        return run_target(bucket=args.bucket, database=args.target, owner=args.owner, roles=args.roles, work=work, s3=s3)
    except (JobError, ClientError, BotoCoreError, OSError) as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
