"""The dependency graph, critical path and deploy-time estimate (infra/review/graph.py, `infra graph`, docs/architecture.md)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from infra import cli
from infra.review import graph
from tests.conftest import STACKS, plan

ROOT = Path(__file__).resolve().parents[1]
STACK_URN = "urn:pulumi:t::platform::pulumi:pulumi:Stack::platform-t"


def urn(component: str | None, token: str, name: str) -> str:
    chain = f"platform:{component}:{component.title()}$" if component else ""
    return f"urn:pulumi:t::platform::{chain}{token}::platform-t-{name}"


def component_urn(component: str) -> str:
    return f"urn:pulumi:t::platform::platform:{component}:{component.title()}::platform-t"


def resource(component: str | None, token: str, name: str, deps=(), inputs=None, provider="", custom=True) -> dict[str, Any]:
    return {
        "urn": urn(component, token, name),
        "type": token,
        "custom": custom,
        "parent": component_urn(component) if component else STACK_URN,
        "provider": provider,
        "inputs": inputs or {},
        "dependencies": list(deps),
    }


def tiny_plan() -> dict[str, Any]:
    """VPC -> subnet -> {NAT, Multi-AZ database -> replica, EKS -> k8s provider -> namespace}."""
    vpc = resource("network", "aws:ec2/vpc:Vpc", "vpc")
    subnet = resource("network", "aws:ec2/subnet:Subnet", "subnet", [vpc["urn"]])
    nat = resource("network", "aws:ec2/natGateway:NatGateway", "nat", [subnet["urn"]])
    password = resource("database", "random:index/randomPassword:RandomPassword", "db-password")
    db = resource("database", "aws:rds/instance:Instance", "db", [subnet["urn"], password["urn"]], {"multiAz": True})
    replica = resource("database", "aws:rds/instance:Instance", "db-replica", [db["urn"]], {"replicateSourceDb": "arn:aws:rds:...:db"})
    eks = resource("cluster", "eks:index:Cluster", "eks", [subnet["urn"]], custom=False)
    k8s = resource("cluster", "pulumi:providers:kubernetes", "k8s", [eks["urn"]])
    namespace = resource("app", "kubernetes:core/v1:Namespace", "ns", provider=f"{k8s['urn']}::k8s-id")
    aws = resource(None, "pulumi:providers:aws", "aws")  # no dependencies: not a node
    states = [
        {"urn": STACK_URN, "type": graph.STACK, "custom": False, "parent": "", "inputs": {}, "dependencies": []},
        *(
            {"urn": component_urn(c), "type": f"platform:{c}:{c.title()}", "custom": False, "parent": STACK_URN, "inputs": {}, "dependencies": []}
            for c in ("network", "database", "cluster", "app")
        ),
        vpc, subnet, nat, password, db, replica, eks, k8s, namespace, aws,
    ]
    return {"steps": [{"op": "create", "urn": s["urn"], "newState": s} for s in states]}


def names(nodes) -> list[str]:
    return [n.name.removeprefix("platform-t-") for n in nodes]


def state(data: dict[str, Any], suffix: str) -> dict[str, Any]:
    (found,) = [s["newState"] for s in data["steps"] if s["newState"]["urn"].endswith(f"::platform-t-{suffix}")]
    return found


# ---------------------------------------------------------------------------- the critical path


def test_the_critical_path_of_a_tiny_plan():
    g = graph.build_graph(tiny_plan())
    assert sorted(names(g.nodes.values())) == ["db", "db-password", "db-replica", "eks", "k8s", "nat", "ns", "subnet", "vpc"]
    assert names(g.critical_path()) == ["vpc", "subnet", "db", "db-replica"]
    assert g.total_seconds == 10 + 10 + 1200 + 900
    assert graph.duration(g.total_seconds) == "35.3 min"
    # the namespace waits for its provider, which waits for the cluster
    assert names(g.path_to(urn("app", "kubernetes:core/v1:Namespace", "ns"))) == ["vpc", "subnet", "eks", "k8s", "ns"]
    assert g.finish[urn("app", "kubernetes:core/v1:Namespace", "ns")] == 10 + 10 + 750 + 0 + 10


def test_a_needless_dependency_shows_up_as_a_longer_path():
    data = tiny_plan()
    state(data, "db")["dependencies"].append(urn("cluster", "eks:index:Cluster", "eks"))  # the database behind EKS
    g = graph.build_graph(data)
    assert names(g.critical_path()) == ["vpc", "subnet", "eks", "db", "db-replica"]
    assert g.total_seconds == 10 + 10 + 750 + 1200 + 900
    assert graph.duration(g.total_seconds) == "47.8 min"


def test_a_dependency_on_a_component_waits_for_all_its_resources():
    data = tiny_plan()
    state(data, "ns")["dependencies"].append(component_urn("database"))
    g = graph.build_graph(data)
    assert names(g.critical_path()) == ["vpc", "subnet", "db", "db-replica", "ns"]


def test_membership_is_not_an_edge_and_deleted_resources_are_not_nodes():
    data = tiny_plan()
    for step in data["steps"]:
        if step["urn"].endswith("::platform-t-nat"):
            step["op"] = "delete"
    g = graph.build_graph(data)
    assert "nat" not in names(g.nodes.values())
    assert g.deps[urn("network", "aws:ec2/vpc:Vpc", "vpc")] == ()  # no edge from its component
    assert g.nodes[urn("network", "aws:ec2/vpc:Vpc", "vpc")].component == component_urn("network")


def test_a_dependency_cycle_is_refused():
    data = tiny_plan()
    state(data, "vpc")["dependencies"].append(urn("database", "aws:rds/instance:Instance", "db-replica"))
    with pytest.raises(ValueError, match="dependency cycle"):
        graph.build_graph(data)


def test_typical_times_follow_the_inputs():
    rds = "aws:rds/instance:Instance"
    assert graph.typical({"type": rds, "inputs": {"multiAz": True}}).key == "rds-multi-az"
    assert graph.typical({"type": rds, "inputs": {"multiAz": False}}).key == "rds-single-az"
    assert graph.typical({"type": rds, "inputs": {"replicateSourceDb": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}}).key == "rds-read-replica"
    svc = "kubernetes:core/v1:Service"
    assert graph.typical({"type": svc, "inputs": {"spec": {"type": "LoadBalancer"}}}).seconds == 180
    assert graph.typical({"type": svc, "inputs": {"spec": {"type": "ClusterIP"}}}) is graph.DEFAULT
    assert graph.typical({"type": "kubernetes:helm.sh/v3:Release", "inputs": {}}).key == "helm-release"
    assert graph.typical({"type": "aws:ec2/vpc:Vpc", "inputs": {}}).seconds == 10
    for entry in graph.TYPICAL:
        assert entry.basis in ("typical", "estimate") and entry.source
        assert entry.key == "local" or "https://" in entry.source, entry.key


# ---------------------------------------------------------------------------- the committed stacks


def test_the_data_stores_are_not_behind_eks(stack):
    g = graph.build_graph(plan(stack).data)
    stores = [n for n in g.nodes.values() if n.type in ("aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup")]
    assert len(stores) >= 2
    for store in stores:
        behind = {n.type for n in g.path_to(store.urn)}
        assert not behind & {"eks:index:Cluster", "eks:index:ManagedNodeGroup", "pulumi:providers:kubernetes"}, store.name


def test_the_estimates_of_the_committed_stacks(stack):
    g = graph.build_graph(plan(stack).data)
    path = g.critical_path()
    assert g.total_seconds == g.finish[path[-1].urn] == sum(n.seconds for n in path)
    if stack == "prod":  # Multi-AZ primary, then its replica: longer than the cluster's chain
        assert [n.estimate for n in path if n.seconds >= 600] == ["rds-multi-az", "rds-read-replica"]
    else:
        assert "eks-control-plane" in [n.estimate for n in path]


# ---------------------------------------------------------------------------- Mermaid


def check_mermaid(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared = re.findall(r"^\s*(\w+)\[\"", text, re.M)
    assert len(declared) == len(set(declared))
    edges = re.findall(r"^\s*(\w+) --> (\w+)$", text, re.M)
    referenced = {a for e in edges for a in e}
    for line in lines:
        if line.strip().startswith("class "):
            referenced |= set(line.split()[1].split(","))
    assert referenced <= set(declared), referenced - set(declared)
    assert sum(line.strip().startswith("subgraph ") for line in lines) == sum(line.strip() == "end" for line in lines)
    styled = [int(i) for line in lines if line.strip().startswith("linkStyle ") for i in line.split()[1].split(",")]
    assert all(0 <= i < len(edges) for i in styled)
    return {"declared": declared, "edges": edges, "styled": styled}


def test_mermaid_of_the_tiny_plan():
    data = tiny_plan()
    state(data, "nat")["dependencies"].append(urn("network", "aws:ec2/vpc:Vpc", "vpc"))  # implied by nat -> subnet -> vpc
    g = graph.build_graph(data)
    text = graph.mermaid(g)
    parts = check_mermaid(text)
    assert len(parts["declared"]) == len(g.nodes) == 9
    assert len(parts["styled"]) == 3  # vpc -> subnet -> db -> replica
    assert 'subgraph c_database["database"]' in text
    assert '["db-replica<br/>rds Instance, 15 min"]' in text
    # an edge a longer chain implies is left out
    assert len(parts["edges"]) == sum(len(d) for d in g.deps.values()) - 1
    ids = dict(re.findall(r'^\s*(\w+)\["([\w-]+)<br/>', text, re.M))
    by_name = {v: k for k, v in ids.items()}
    assert (by_name["vpc"], by_name["nat"]) not in parts["edges"]
    assert (by_name["subnet"], by_name["nat"]) in parts["edges"]


def test_mermaid_of_every_stack_is_well_formed(stack):
    g = graph.build_graph(plan(stack).data)
    # Every resource drawn (the default draws a large stack per component: the next test).
    parts = check_mermaid(graph.mermaid(g, max_nodes=len(g.nodes)))
    assert len(parts["declared"]) == len(g.nodes)
    assert len(parts["styled"]) == len(g.critical_path()) - 1


def test_a_large_stack_is_drawn_per_component():
    g = graph.build_graph(plan("prod").data)
    text = graph.mermaid(g, max_nodes=20)
    parts = check_mermaid(text)
    assert "subgraph" not in text
    assert len(parts["declared"]) == len(g.components) + sum(1 for n in g.nodes.values() if n.component is None)
    assert any("database<br/>" in line for line in text.splitlines())
    assert "class " in text and parts["styled"]


# ---------------------------------------------------------------------------- the command and the doc


def test_infra_graph_writes_the_stack_section(tmp_path, capsys):
    out = tmp_path / "graph.md"
    assert cli.main(["graph", "--stack", "dev", "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# dev\n\nEstimated from-scratch deploy: **")
    assert "```mermaid\nflowchart LR\n" in text
    assert text == graph.stack_section("dev", plan("dev").data, level=1)


def test_docs_architecture_is_generated():
    wanted = graph.architecture_document({s: copy.deepcopy(plan(s).data) for s in STACKS})
    current = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert current == wanted, "run `make docs`"
    for s in STACKS:
        assert f"\n## {s}\n" in current
