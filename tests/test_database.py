"""The database component's exact inputs and options, per committed stack (FSBP RDS controls)."""

import json
import re
import shutil

import pytest

from infra.offline.harness import ROOT, run_program
from tests.conftest import account, plan

INSTANCE = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"

EXPECTED = {
    "dev": {"class": "db.t3.micro", "storage": 20, "max_storage": 50, "multi_az": False, "backups": 1, "replicas": 0, "deletion_protection": False, "final_snapshot": False, "protect": False, "apply_immediately": True},
    "staging": {"class": "db.t3.medium", "storage": 100, "max_storage": 200, "multi_az": False, "backups": 7, "replicas": 0, "deletion_protection": False, "final_snapshot": True, "protect": False, "apply_immediately": True},
    "prod": {"class": "db.m5.large", "storage": 500, "max_storage": 1000, "multi_az": True, "backups": 30, "replicas": 1, "deletion_protection": True, "final_snapshot": True, "protect": True, "apply_immediately": False},
}


def _db(stack: str) -> dict:
    return plan(stack).named(INSTANCE, f"::platform-{stack}-db")


def _instances(stack: str) -> list[dict]:
    return plan(stack).of_type(INSTANCE)


def with_database(stack: str, **changes):
    """The stack's plan with fields of its committed `platform:database` section changed."""
    import yaml

    with open(ROOT / f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        section = yaml.safe_load(fh)["config"]["platform:database"]
    return plan(stack, **{"platform:database": {**section, **changes}})


def _key_arn(stack: str) -> str:
    return plan(stack).named(KEY, f"::platform-{stack}-key")["outputs"]["arn"]


def test_sizing_per_stack(stack):
    want, inputs = EXPECTED[stack], _db(stack)["inputs"]
    assert inputs["engine"] == "postgres" and inputs["engineVersion"] == "17"
    assert inputs["instanceClass"] == want["class"]
    assert inputs["allocatedStorage"] == want["storage"]
    assert inputs["maxAllocatedStorage"] == want["max_storage"]
    assert inputs["storageType"] == "gp3"
    assert inputs["multiAz"] is want["multi_az"]
    assert inputs["backupRetentionPeriod"] == want["backups"]
    assert inputs["backupWindow"] == "03:00-04:00" and inputs["maintenanceWindow"] == "sun:04:30-sun:05:30"
    assert inputs["dbName"] == "app"


def test_encrypted_with_the_stack_key_everywhere(stack):
    key = _key_arn(stack)
    for db in _instances(stack):
        inputs = db["inputs"]
        assert inputs["storageEncrypted"] is True and inputs["kmsKeyId"] == key
        assert inputs["performanceInsightsEnabled"] is True and inputs["performanceInsightsKmsKeyId"] == key
        # The free tier, which is what the cost model prices; longer retention is billed per vCPU.
        assert inputs["performanceInsightsRetentionPeriod"] == 7
    secret = plan(stack).named("aws:secretsmanager/secret:Secret", f"::platform-{stack}-db-master")
    assert secret["inputs"]["kmsKeyId"] == key


def test_security_controls_on_every_instance(stack):
    for db in _instances(stack):
        inputs = db["inputs"]
        assert inputs["publiclyAccessible"] is False  # RDS.2
        assert inputs["iamDatabaseAuthenticationEnabled"] is True  # RDS.10
        assert set(inputs["enabledCloudwatchLogsExports"]) >= {"postgresql", "upgrade"}  # RDS.9
        assert inputs["copyTagsToSnapshot"] is True  # RDS.17
        assert inputs["autoMinorVersionUpgrade"] is True  # RDS.13
        assert inputs["monitoringInterval"] == 60 and inputs["monitoringRoleArn"].startswith(f"arn:aws:iam::{account(stack)}:role/")  # RDS.6
        assert inputs["caCertIdentifier"] == "rds-ca-rsa2048-g1"
        assert inputs["deletionProtection"] is EXPECTED[stack]["deletion_protection"]  # RDS.8
        assert inputs["applyImmediately"] is EXPECTED[stack]["apply_immediately"]


def test_master_user_is_custom_and_its_password_generated_and_secret(stack):
    p = plan(stack)
    inputs = _db(stack)["inputs"]
    assert inputs["username"] == "app_admin" and inputs["username"] not in {"postgres", "admin"}  # RDS.25
    # RDS refuses a read replica of a source whose password it manages (ManageMasterUserPassword).
    assert "manageMasterUserPassword" not in inputs
    assert inputs["password"] == "[secret]"
    password = p.named("random:index/randomPassword:RandomPassword", f"::platform-{stack}-db-master-password")
    assert (password["inputs"]["length"], password["inputs"]["special"], password["inputs"]["keepers"]) == (40, False, {"generation": "1"})
    value = p.named("aws:secretsmanager/secretVersion:SecretVersion", f"::platform-{stack}-db-master-value")
    assert value["inputs"]["secretString"] == "[secret]"


def test_bumping_the_generation_rotates_the_master_password():
    db = with_database("staging", master_password_generation=2)
    password = db.named("random:index/randomPassword:RandomPassword", "::platform-staging-db-master-password")
    assert password["inputs"]["keepers"] == {"generation": "2"}


def test_final_snapshot_and_backups_kept(stack):
    inputs = _db(stack)["inputs"]
    # Automated backups outlive the instance exactly where final snapshots do (dev: destroyed).
    assert inputs["deleteAutomatedBackups"] is not EXPECTED[stack]["final_snapshot"]
    if EXPECTED[stack]["final_snapshot"]:
        assert inputs["skipFinalSnapshot"] is False
        # A name per deletion: the prefix and a digest of the instance's replacing inputs.
        assert re.fullmatch(rf"platform-{stack}-db-final-[0-9a-f]{{8}}", inputs["finalSnapshotIdentifier"])
    else:
        assert inputs["skipFinalSnapshot"] is True
        assert "finalSnapshotIdentifier" not in inputs


def test_pulumi_protection_on_primary_and_replicas(stack):
    protect = EXPECTED[stack]["protect"]
    instances = _instances(stack)
    assert len(instances) == 1 + EXPECTED[stack]["replicas"]
    for db in instances:
        assert db["protect"] is protect and db["retainOnDelete"] is protect
    # Autonamed: a replacement creates before it deletes without a name collision.
    assert all("identifier" not in db["inputs"] for db in instances)


def test_in_the_isolated_subnets(stack):
    p = plan(stack)
    group = p.named("aws:rds/subnetGroup:SubnetGroup", f"::platform-{stack}-db-subnets")
    isolated = {s["id"] for s in p.of_type("aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["Tier"] == "isolated"}
    assert set(group["inputs"]["subnetIds"]) == isolated
    for db in _instances(stack):
        assert db["inputs"]["dbSubnetGroupName"] == group["outputs"]["name"]


def test_reachable_only_from_the_nodes_on_5432(stack):
    p = plan(stack)
    sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"::platform-{stack}-db-sg")
    nodes_sg = p.named("aws:ec2/securityGroup:SecurityGroup", f"::platform-{stack}-nodes-sg")
    assert sg["inputs"]["egress"] == [] and "ingress" not in sg["inputs"]
    rules = [r["inputs"] for r in p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r["inputs"]["securityGroupId"] == sg["id"]]
    assert rules == [
        {
            "securityGroupId": sg["id"],
            "ipProtocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "referencedSecurityGroupId": nodes_sg["id"],
            "description": "PostgreSQL from the Kubernetes nodes",
        }
    ]
    assert not [r for r in p.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") if r["inputs"]["securityGroupId"] == sg["id"]]
    for db in _instances(stack):
        assert db["inputs"]["vpcSecurityGroupIds"] == [sg["id"]]
        assert db["inputs"].get("port", 5432) == 5432


def test_parameter_group_forces_tls(stack):
    p = plan(stack)
    params = p.named("aws:rds/parameterGroup:ParameterGroup", f"::platform-{stack}-db-params")
    assert params["inputs"]["family"] == "postgres17"
    values = {prm["name"]: prm["value"] for prm in params["inputs"]["parameters"]}
    assert values == {
        "rds.force_ssl": "1", "log_min_duration_statement": "1000",
        # A replica's long reads (the data copy's dump) outlast vacuum and conflicting locks.
        "hot_standby_feedback": "1", "max_standby_streaming_delay": "900000", "max_standby_archive_delay": "900000",
    }  # fmt: skip
    for db in _instances(stack):
        assert db["inputs"]["parameterGroupName"] == params["outputs"]["name"]


def test_monitoring_role_trusts_only_rds_monitoring(stack):
    p = plan(stack)
    role = p.named("aws:iam/role:Role", f"::platform-{stack}-db-monitoring")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account(stack)}}
    attachment = p.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"::platform-{stack}-db-monitoring-policy")
    assert attachment["inputs"]["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    assert attachment["urn"] in _db(stack)["dependencies"]


def test_prod_read_replica():
    p = plan("prod")
    primary = _db("prod")
    replica = p.named(INSTANCE, "::platform-prod-db-replica-1")
    inputs = replica["inputs"]
    # Same region with a DB subnet group: the source by ARN (provider docs, replicate_source_db).
    assert inputs["dbSubnetGroupName"] == primary["inputs"]["dbSubnetGroupName"]
    assert inputs["replicateSourceDb"] == primary["outputs"]["arn"] == "arn:aws:rds:us-east-1:123456789012:db:" + primary["outputs"]["identifier"]
    assert inputs["instanceClass"] == primary["inputs"]["instanceClass"]
    assert inputs["backupRetentionPeriod"] == 0 and inputs["skipFinalSnapshot"] is True
    # The source decides these; a replica must not try to set them.
    assert not {"username", "dbName", "engine", "allocatedStorage", "manageMasterUserPassword", "password"} & set(inputs)
    assert primary["urn"] in replica["dependencies"]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_no_replicas_below_prod(stack):
    assert len(_instances(stack)) == 1
    assert "database_reader_endpoint" not in plan(stack).outputs


def test_exports_are_realistic(stack):
    outputs = plan(stack).outputs
    db = _db(stack)
    identifier = db["outputs"]["identifier"]
    assert identifier.startswith(f"platform-{stack}-db-")
    assert re.fullmatch(rf"{identifier}\.c[0-9a-f]{{11}}\.us-east-1\.rds\.amazonaws\.com", outputs["database_endpoint"])
    assert outputs["database_secret_arn"].startswith(f"arn:aws:secretsmanager:us-east-1:{account(stack)}:secret:platform-{stack}-db-master-")
    if stack == "prod":
        replica_id = plan(stack).named(INSTANCE, "::platform-prod-db-replica-1")["outputs"]["identifier"]
        assert outputs["database_reader_endpoint"].startswith(f"{replica_id}.")


def test_does_not_wait_for_the_cluster(stack):
    for db in _instances(stack):
        assert not [d for d in db["dependencies"] if "eks:" in d]


PROGRAM = """
from infra import config
from infra.components.database import Database, DatabaseArgs

cfg = config.load()
Database(
    cfg.name,
    DatabaseArgs(
        config=cfg.database.model_copy(update={"max_allocated_storage_gb": 0}),
        protection=cfg.protection,
        vpc_id="vpc-0123456789abcdef0",
        subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        client_security_group_id="sg-0123456789abcdef0",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    ),
)
"""


def test_storage_autoscaling_off_leaves_no_ceiling(tmp_path):
    # The component alone (a few resources), not the whole program: fast.
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "__main__.py").write_text(PROGRAM, encoding="utf-8")
    [db] = [r for r in run_program("dev", root=tmp_path).registrations if r.type == INSTANCE]
    assert "maxAllocatedStorage" not in db.inputs and db.inputs["allocatedStorage"] == 20


def test_component_children(stack):
    p = plan(stack)
    component = p.named("platform:database:Database", f"::platform-{stack}")
    children = [s for s in p.states if s["parent"] == component["urn"]]
    assert {s["type"] for s in children} >= {INSTANCE, "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup", "aws:ec2/securityGroup:SecurityGroup"}
