"""The offline replacement diff (infra/review/diff.py) over the program's own prod plan, doctored.

Each case deep-copies `plan("prod").data` into a head plan, changes what a pull request would
change, and pins the exact lines `python -m infra diff` prints for it (the summary line
separately, since its `same` count follows the plan's size).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import STACKS, plan
from infra import cli
from infra.review import diff as d

ROOT = Path(__file__).resolve().parents[1]
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# sha256 of /work/shared/reference/force-new.json as vendored (the `resources`, `source` and
# `note` keys of policy/force_new.json, re-serialized as the original was: json.dumps(indent=1)).
VENDORED_SHA256 = "87f04c1fc99edcb34fcbcc9fa3743445de2f89afef3c929163c55c22f8a5e3a4"

DB = "platform-prod-db"
DB_LINE = "the database and its data would be destroyed and recreated empty"


def prod() -> dict[str, Any]:
    return copy.deepcopy(plan("prod").data)


def state(data: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s["newState"] for s in data["steps"] if s["newState"]["urn"].endswith("::" + name)]
    assert len(found) == 1, name
    return found[0]


def without(data: dict[str, Any], name: str) -> dict[str, Any]:
    data["steps"] = [s for s in data["steps"] if not s["newState"]["urn"].endswith("::" + name)]
    return data


def rename(data: dict[str, Any], name: str, new_name: str, alias: str | None = None) -> dict[str, Any]:
    """The logical name changes (URN, and children's parent are left alone: a leaf resource)."""
    for step in data["steps"]:
        s = step["newState"]
        if s["urn"].endswith("::" + name):
            old = s["urn"]
            s["urn"] = step["urn"] = old[: -len(name)] + new_name
            if alias == "urn":
                s["aliases"] = [old]
            elif alias == "name":
                s["aliases"] = [name]
    return data


def set_input(name: str, path: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        node = state(data, name)["inputs"]
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        return data

    return change


def also(*changes: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        for c in changes:
            data = c(data)
        return data

    return change


def option(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        state(data, name)[key] = value
        return data

    return change


OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-1111-2222-3333-444444444444"

# id, doctor the head, the exact resource lines, exit status
CASES = [
    (
        "node-group-scaling-updates",
        set_input("platform-prod-general", "scalingConfig.maxSize", 12),
        ["update platform-prod-general (eks:index:ManagedNodeGroup): scalingConfig.maxSize changed"],
        0,
    ),
    (
        "desired-size-ignored-by-ignoreScalingChanges",
        set_input("platform-prod-general", "scalingConfig.desiredSize", 5),
        [],
        0,
    ),
    (
        "a-tag-updates",
        set_input("platform-prod-flow-log", "tags.Team", "platform"),
        ["update platform-prod-flow-log (aws:ec2/flowLog:FlowLog): tags.Team changed"],
        0,
    ),
    (
        "storage-encrypted-replaces-the-protected-database",
        set_input(DB, "storageEncrypted", False),
        [f"MANDATORY replace {DB} (aws:rds/instance:Instance): storageEncrypted changed (ForceNew) — {DB_LINE}"],
        1,
    ),
    (
        "kms-key-replaces-the-protected-database",
        set_input(DB, "kmsKeyId", OTHER_KEY),
        [f"MANDATORY replace {DB} (aws:rds/instance:Instance): kmsKeyId changed (ForceNew) — {DB_LINE}"],
        1,
    ),
    (
        "forcenew-and-in-place-changes-together",
        also(set_input(DB, "kmsKeyId", OTHER_KEY), set_input(DB, "allocatedStorage", 600)),
        [f"MANDATORY replace {DB} (aws:rds/instance:Instance): kmsKeyId changed (ForceNew); allocatedStorage changed — {DB_LINE}"],
        1,
    ),
    (
        "the-replica-is-stateful-too",
        set_input("platform-prod-db-replica-1", "storageEncrypted", False),
        [
            "MANDATORY replace platform-prod-db-replica-1 (aws:rds/instance:Instance): storageEncrypted changed (ForceNew) — "
            "the read replica would be destroyed and rebuilt from its source"
        ],
        1,
    ),
    (
        "renamed-without-alias-is-delete-and-create",
        lambda data: rename(data, "platform-prod-spot", "platform-prod-spot-pool"),
        [
            "delete platform-prod-spot (eks:index:ManagedNodeGroup): gone from the head plan; same type created as platform-prod-spot-pool: if renamed, alias it",
            "create platform-prod-spot-pool (eks:index:ManagedNodeGroup)",
        ],
        0,
    ),
    (
        "renamed-with-an-alias-urn-is-the-same-resource",
        lambda data: rename(data, "platform-prod-spot", "platform-prod-spot-pool", alias="urn"),
        [],
        0,
    ),
    (
        "renamed-with-an-alias-name-and-a-change-is-an-update",
        also(
            lambda data: rename(data, "platform-prod-spot", "platform-prod-spot-pool", alias="name"),
            set_input("platform-prod-spot-pool", "labels.workload", "batch"),
        ),
        ["update platform-prod-spot-pool (eks:index:ManagedNodeGroup) [was platform-prod-spot]: labels.workload changed"],
        0,
    ),
    (
        "renamed-database-without-alias-destroys-it",
        lambda data: rename(data, DB, "platform-prod-postgres"),
        [
            f"MANDATORY delete {DB} (aws:rds/instance:Instance): gone from the head plan; same type created as platform-prod-postgres: "
            "if renamed, alias it — the database and its data would be destroyed",
            "create platform-prod-postgres (aws:rds/instance:Instance)",
        ],
        1,
    ),
    (
        "removed-node-group-is-deleted",
        lambda data: without(data, "platform-prod-spot"),
        ["delete platform-prod-spot (eks:index:ManagedNodeGroup): gone from the head plan"],
        0,
    ),
    (
        "secret-unchanged-is-same",
        lambda data: data,  # the database password is "[secret]" on both sides
        [],
        0,
    ),
    (
        "secret-to-plain-value-is-a-change",
        set_input(DB, "password", "hunter2-but-longer"),
        [f"update {DB} (aws:rds/instance:Instance): password changed"],
        0,
    ),
    (
        "unknown-on-a-forcenew-path-possibly-replaces",
        set_input("platform-prod-private-1", "vpcId", UNKNOWN),
        ["replace (possibly: unknown until deploy) platform-prod-private-1 (aws:ec2/subnet:Subnet): vpcId unknown until deploy (ForceNew)"],
        0,
    ),
    (
        "unknown-key-of-the-database-possibly-replaces-it",
        set_input(DB, "kmsKeyId", UNKNOWN),
        [f"MANDATORY replace (possibly: unknown until deploy) {DB} (aws:rds/instance:Instance): kmsKeyId unknown until deploy (ForceNew) — {DB_LINE}"],
        1,
    ),
    (
        "unknown-elsewhere-is-an-update",
        set_input(DB, "allocatedStorage", UNKNOWN),
        [f"update {DB} (aws:rds/instance:Instance): allocatedStorage unknown until deploy"],
        0,
    ),
    (
        "delete-before-replace-shown",
        also(set_input("platform-prod-public-1", "cidrBlock", "10.30.99.0/24"), option("platform-prod-public-1", "deleteBeforeReplace", True)),
        ["replace platform-prod-public-1 (aws:ec2/subnet:Subnet) [deleteBeforeReplace]: cidrBlock changed (ForceNew)"],
        0,
    ),
    (
        "protected-password-replaced",
        set_input("platform-prod-jwt-secret", "length", 48),
        [
            "MANDATORY replace platform-prod-jwt-secret (random:index/randomPassword:RandomPassword): length changed (ForceNew) — "
            "it is protected (protect=True): pulumi up refuses to replace it"
        ],
        1,
    ),
    (
        "control-plane-log-group-is-audit-data",
        set_input("platform-prod-control-plane-logs", "name", "/aws/eks/platform-prod-2/cluster"),
        [
            "MANDATORY replace platform-prod-control-plane-logs (aws:cloudwatch/logGroup:LogGroup): name changed (ForceNew) — "
            "the EKS control-plane audit logs it holds would be deleted"
        ],
        1,
    ),
    (
        "flow-log-group-is-audit-data",
        lambda data: without(data, "platform-prod-flow-logs"),
        ["MANDATORY delete platform-prod-flow-logs (aws:cloudwatch/logGroup:LogGroup): gone from the head plan — the VPC flow logs it holds would be deleted"],
        1,
    ),
    (
        "other-log-groups-are-not",
        set_input("platform-prod-redis-slow-log", "logGroupClass", "INFREQUENT_ACCESS"),
        ["replace platform-prod-redis-slow-log (aws:cloudwatch/logGroup:LogGroup): logGroupClass changed (ForceNew)"],
        0,
    ),
    (
        "conditional-forcenew-on-redis-is-advisory",
        set_input("platform-prod-redis", "engineVersion", "6.2"),
        [
            "ADVISORY update platform-prod-redis (aws:elasticache/replicationGroup:ReplicationGroup): engineVersion changed (conditional ForceNew) — "
            "may be replaced (engineVersion: ForceNew only when the new version is a downgrade (engineVersionForceNewOnDowngrade/engineVersionIsDowngrade) "
            "on an existing group not in a global replication group): the Redis replication group and its data would be destroyed and recreated empty"
        ],
        0,
    ),
    (
        "config-map-data-replaces-it",
        set_input("platform-prod-app-app-config", "data.LOG_LEVEL", "debug"),
        ["replace platform-prod-app-app-config (kubernetes:core/v1:ConfigMap): data.LOG_LEVEL changed (ForceNew)"],
        0,
    ),
]


@pytest.mark.parametrize(("doctor", "lines", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diff_case(doctor, lines, status):
    base = plan("prod").data
    result = d.diff(base, doctor(prod()))
    text = d.format_text(result)
    assert text[:-1] == lines
    assert (1 if result.mandatory else 0) == status
    assert text[-1].startswith("diff FAILED:" if status else "diff passed:")


def test_identical_plans_are_all_same():
    base = plan("prod").data
    result = d.diff(base, prod())
    n = len(base["steps"])
    assert d.format_text(result) == [f"diff passed: 0 mandatory, 0 advisory violation(s); 0 replace, 0 delete, 0 create, 0 update, {n} same"]


def test_summary_counts():
    base = plan("prod").data
    head = also(set_input(DB, "storageEncrypted", False), set_input("platform-prod-general", "scalingConfig.maxSize", 12), lambda x: without(x, "platform-prod-spot"))(prod())
    n = len(base["steps"])
    assert d.format_text(d.diff(base, head))[-1] == (
        f"diff FAILED: 1 mandatory, 0 advisory violation(s); 1 replace, 1 delete, 0 create, 1 update, {n - 3} same"
    )


def test_secret_is_secret_on_both_sides():
    assert state(plan("prod").data, DB)["inputs"]["password"] == "[secret]"
    change = next(c for c in d.diff(plan("prod").data, prod()).changes if c.name == DB)
    assert change.op == d.SAME


def test_new_stack_without_base_is_all_create():
    head = plan("prod").data
    result = d.diff(None, head)
    text = d.format_text(result)
    assert len(text) == len(head["steps"]) + 1
    assert all(line.startswith("create ") for line in text[:-1])
    assert "create platform-prod-db (aws:rds/instance:Instance)" in text
    assert text[-1] == f"diff passed: 0 mandatory, 0 advisory violation(s); 0 replace, 0 delete, {len(head['steps'])} create, 0 update, 0 same (no base plan: a new stack)"
    assert not result.mandatory


def test_replaced_provider_replaces_what_it_manages():
    head = set_input("platform-prod-k8s", "renderYamlToDirectory", "/tmp/out")(prod())
    text = d.format_text(d.diff(plan("prod").data, head))
    assert "replace platform-prod-k8s (pulumi:providers:kubernetes): renderYamlToDirectory changed (ForceNew)" in text
    assert "replace platform-prod-traefik-ns (kubernetes:core/v1:Namespace): its provider platform-prod-k8s is replaced" in text
    managed = [s for s in plan("prod").states if "platform-prod-k8s::" in (s.get("provider") or "")]
    assert len([line for line in text if "its provider platform-prod-k8s is replaced" in line]) == len(managed) > 0


def test_real_preview_steps_on_their_way_out_are_skipped():
    head = prod()
    spot = next(s for s in head["steps"] if s["newState"]["urn"].endswith("::platform-prod-spot"))
    spot["op"] = "delete"
    assert d.format_text(d.diff(plan("prod").data, head))[:-1] == ["delete platform-prod-spot (eks:index:ManagedNodeGroup): gone from the head plan"]


def test_markdown():
    head = also(set_input(DB, "storageEncrypted", False), set_input("platform-prod-general", "scalingConfig.maxSize", 12))(prod())
    n = len(plan("prod").data["steps"])
    assert d.format_markdown(d.diff(plan("prod").data, head)) == [
        "### Resource changes",
        "",
        "**1 mandatory violation(s): a protected or stateful resource would be replaced or deleted.**",
        "",
        "| | op | resource | type | changes | at stake |",
        "|---|---|---|---|---|---|",
        f"| MANDATORY | replace | `{DB}` | `aws:rds/instance:Instance` | storageEncrypted changed (ForceNew) | {DB_LINE} |",
        "|  | update | `platform-prod-general` | `eks:index:ManagedNodeGroup` | scalingConfig.maxSize changed |  |",
        "",
        f"diff FAILED: 1 mandatory, 0 advisory violation(s); 1 replace, 0 delete, 0 create, 1 update, {n - 2} same",
    ]


def test_markdown_without_changes():
    n = len(plan("prod").data["steps"])
    assert d.format_markdown(d.diff(plan("prod").data, prod())) == [
        "### Resource changes",
        "",
        "No resource changes.",
        "",
        f"diff passed: 0 mandatory, 0 advisory violation(s); 0 replace, 0 delete, 0 create, 0 update, {n} same",
    ]


# ---------------------------------------------------------------------------- the command line


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_cli_mandatory_violation_exits_1(tmp_path, capsys):
    base = write(tmp_path / "base-plan.json", plan("prod").data)
    head = write(tmp_path / "head-plan.json", set_input(DB, "kmsKeyId", OTHER_KEY)(prod()))
    assert cli.main(["diff", base, head]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"MANDATORY replace {DB} (aws:rds/instance:Instance): kmsKeyId changed (ForceNew) — {DB_LINE}"
    assert out[-1].startswith("diff FAILED: 1 mandatory")


def test_cli_markdown_update_exits_0(tmp_path, capsys):
    base = write(tmp_path / "base-plan.json", plan("prod").data)
    head = write(tmp_path / "head-plan.json", set_input("platform-prod-general", "scalingConfig.maxSize", 12)(prod()))
    assert cli.main(["diff", base, head, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "|  | update | `platform-prod-general` | `eks:index:ManagedNodeGroup` | scalingConfig.maxSize changed |  |" in out
    assert "mandatory violation(s): a protected" not in out


def test_cli_missing_base_is_a_new_stack(tmp_path, capsys):
    head = write(tmp_path / "head-plan.json", plan("prod").data)
    assert cli.main(["diff", str(tmp_path / "base-plan.json"), head, "--format", "markdown"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(no base plan: a new stack)")


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("head", None, "head-plan.json: No such file or directory"),
        ("head", "{not json", "head-plan.json: not JSON"),
        ("base", "[]", "base-plan.json: not a plan"),
        ("base", '{"config": {}}', "base-plan.json: not a plan"),
    ],
    ids=["head-missing", "head-not-json", "base-a-list", "base-without-steps"],
)
def test_cli_unreadable_input_exits_2(tmp_path, capsys, which, content, message):
    files = {"base": tmp_path / "base-plan.json", "head": tmp_path / "head-plan.json"}
    write(files["base"] if which == "head" else files["head"], plan("prod").data)
    if content is not None:
        files[which].write_text(content, encoding="utf-8")
    assert cli.main(["diff", str(files["base"]), str(files["head"])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


# ---------------------------------------------------------------------------- policy/force_new.json


def _force_new() -> dict[str, Any]:
    return json.loads((ROOT / "policy" / "force_new.json").read_text(encoding="utf-8"))


def test_vendored_table_is_unchanged():
    data = _force_new()
    data.pop("resources_added_by_platform")
    assert hashlib.sha256(json.dumps(data, indent=1).encode("utf-8")).hexdigest() == VENDORED_SHA256
    assert list(data) == ["source", "note", "resources"]


def test_every_planned_type_has_an_entry():
    data = _force_new()
    known = set(data["resources"]) | set(data["resources_added_by_platform"]["resources"])
    planned = {s["type"] for stack in STACKS for s in plan(stack).states}
    assert sorted(planned - known) == []
    assert set(data["resources"]).isdisjoint(data["resources_added_by_platform"]["resources"])


def test_added_entries_say_where_they_come_from():
    for token, entry in _force_new()["resources_added_by_platform"]["resources"].items():
        assert entry["source"] and isinstance(entry["verified"], bool), token
        assert isinstance(entry["force_new"], list) and isinstance(entry["conditional"], dict), token
    unverified = sorted(t for t, e in _force_new()["resources_added_by_platform"]["resources"].items() if not e["verified"])
    assert unverified == ["pulumi:providers:aws", "pulumi:providers:cloudflare"]


def test_config_maps_and_secrets_are_immutable_under_this_provider():
    # The ConfigMap/Secret entries assume the kubernetes provider's defaults (data replaces).
    for stack in STACKS:
        for provider in plan(stack).of_type("pulumi:providers:kubernetes"):
            assert "enableConfigMapMutable" not in provider["inputs"]
            assert "enableSecretMutable" not in provider["inputs"]
