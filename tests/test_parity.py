"""Stack parity: staging must match prod in versions and components; sizing is ignored."""

import copy
import json
import subprocess
import sys

from infra.review.parity import compare
from tests.conftest import plan


def doctored(stack: str, typ: str, change) -> dict:
    data = copy.deepcopy(plan(stack).data)
    for step in data["steps"]:
        if step["newState"]["type"] == typ:
            change(step["newState"])
    return data


def test_staging_matches_prod():
    report = compare(plan("staging").data, plan("prod").data, "staging", "prod")
    assert report.versions == [] and report.components == []
    assert not report.drifted
    # what the matrix allows staging to do differently is shown, not failed
    assert "aws:rds/instance:Instance deletionProtection: staging false / prod true" in report.security
    # prod's audit bucket is locked (audit.object_lock_days), staging's is not: a setting, not drift.
    assert "platform:audit:Audit aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration: only in prod (audit.object_lock_days)" in report.security
    assert "aws:s3/bucket:Bucket objectLockEnabled: staging - / prod true" in report.security
    # Thanos runs where metrics.long_term_days is set, which only prod's tier requires: a setting too.
    assert "platform:monitoring:Monitoring kubernetes:apps/v1:StatefulSet: only in prod (observability.metrics.long_term_days)" in report.security
    assert "platform:monitoring:Monitoring aws:s3/bucket:Bucket: only in prod (observability.metrics.long_term_days)" in report.security
    # The data copy is a side per stack (data_copy.role): the source in prod, the target in staging.
    assert "(stack) platform:data_copy:DataCopySource: only in prod (data_copy.role)" in report.security
    assert "(stack) platform:data_copy:DataCopyTarget: only in staging (data_copy.role)" in report.security
    assert "platform:data_copy:DataCopySource aws:kms/key:Key: only in prod (data_copy.role)" in report.security
    assert "platform:data_copy:DataCopyTarget kubernetes:batch/v1:CronJob: only in staging (data_copy.role)" in report.security


def test_a_version_drift_fails():
    drifted = doctored("staging", "eks:index:Cluster", lambda s: s["inputs"].update(version="1.34"))
    report = compare(drifted, plan("prod").data, "staging", "prod")
    assert report.versions == ['eks:index:Cluster version: staging "1.34" / prod "1.35"']
    assert report.drifted


def test_a_missing_component_fails():
    staging = copy.deepcopy(plan("staging").data)
    staging["steps"] = [s for s in staging["steps"] if not s["newState"]["type"].startswith("aws:elasticache/")]
    report = compare(staging, plan("prod").data, "staging", "prod")
    assert "platform:cache:Cache aws:elasticache/replicationGroup:ReplicationGroup: only in prod" in report.components
    assert report.drifted


def test_cli_exits_non_zero_on_drift(tmp_path):
    drifted = doctored("staging", "aws:rds/instance:Instance", lambda s: s["inputs"].update(engineVersion="16.4"))
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(drifted))
    prod_path = tmp_path / "prod.json"
    prod_path.write_text(json.dumps(plan("prod").data))
    result = subprocess.run([sys.executable, "-m", "infra", "parity", str(path), str(prod_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "aws:rds/instance:Instance engineVersion: staging \"16.4\" / prod" in result.stdout
    assert result.stdout.rstrip().endswith("FAIL: versions or components differ")
