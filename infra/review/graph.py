"""`python -m infra graph --stack NAME [--output FILE]`: the plan's dependency graph, its critical path and a deploy-time estimate.

Prints (or writes to FILE) a Markdown section for the stack:

- the estimated time of a deployment from scratch: the critical path, i.e. the longest chain
  of dependencies when every resource takes its typical creation time (`TYPICAL` below) and
  the engine runs everything else beside it in parallel (it does: `pulumi up` creates any
  resource whose dependencies are done);
- that path as a numbered list (resource, type, estimate, minute it is done);
- a ```mermaid flowchart (GitHub renders it): one subgraph box per component (the nearest
  `platform:*` ancestor), one node per resource with its estimate, an edge from each
  dependency to its dependent; the critical path drawn red (`classDef` / `linkStyle`).

What the graph holds, read from a plan (`python -m infra plan --json` or `pulumi preview --json`):
- nodes: every resource the plan leaves in the stack, except the stack, the `platform:*`
  components (they are the boxes) and any other component that has children in the plan
  (its children are the nodes). A provider is a node only when it has dependencies of its own
  (the Kubernetes provider waits for the EKS cluster); a provider without any is ready at once.
- edges: a resource's `dependencies`, plus its provider (the engine waits for the provider
  before it creates the resource). A dependency on a component means one on each of its
  descendants. Membership of a component is not an edge. An edge another chain of edges
  already implies is not drawn (the transitive reduction: the path is the same, the picture
  readable), except on the critical path.

A stack with more than `MAX_NODES` nodes is drawn one node per component instead, with an edge
where any resource of one waits for one of the other; the critical path and the estimate are
still those of the resources.

`architecture_document(plans)` is the docs/architecture.md that `make docs` writes
(scripts/architecture_doc.py): the table of typical times with their sources, then every
stack's section.

Reads a plan only: no component is imported (the import-linter contracts in .importlinter).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TextIO


MAX_NODES = 150
STACK = "pulumi:pulumi:Stack"
# Steps for resources on their way out (as infra/review/check.py reads them).
_GONE_OPS = frozenset({"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace", "read-discard"})
CRITICAL_COLOUR = "#c0392b"

TF_DOCS = "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources"


# ---------------------------------------------------------------------------- typical times


@dataclass(frozen=True)
class Typical:
    """How long creating one resource of these types typically takes, and where that comes from."""

    key: str
    types: tuple[str, ...]  # type tokens, fnmatch patterns
    seconds: int
    basis: str  # "typical": the source gives a typical duration; "estimate": it gives only a timeout
    source: str
    when: str = ""  # the condition on the inputs, for the docs

    def matches(self, state: Mapping[str, Any]) -> bool:
        return any(fnmatchcase(state.get("type") or "", pattern) for pattern in self.types) and _CONDITIONS.get(self.key, _always)(
            state.get("inputs") or {}
        )


def _always(_: Mapping[str, Any]) -> bool:
    return True


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _set(value: Any) -> bool:
    return value not in (None, "", [], {}) and value is not False


_CONDITIONS = {
    "rds-read-replica": lambda inputs: _set(inputs.get("replicateSourceDb")),
    "rds-multi-az": lambda inputs: _truthy(inputs.get("multiAz")),
    "load-balancer-service": lambda inputs: isinstance(inputs.get("spec"), Mapping) and inputs["spec"].get("type") == "LoadBalancer",
}

# First match wins. Typical values where a source gives one; a timeout is the provider's
# default patience, not a duration, and is quoted only as the upper bound beside an estimate.
TYPICAL: tuple[Typical, ...] = (
    Typical(
        "eks-control-plane",
        ("eks:index:Cluster", "aws:eks/cluster:Cluster"),
        750,
        "typical",
        "AWS EKS API Reference, CreateCluster: cluster creation \"typically takes between 10 and 15 minutes\" "
        "(https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html); \"currently averages 15 minutes\" "
        "(https://github.com/aws/containers-roadmap/issues/1227). Terraform's aws_eks_cluster create timeout: 30 min "
        f"({TF_DOCS}/eks_cluster#timeouts).",
    ),
    Typical(
        "eks-managed-node-group",
        ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup"),
        240,
        "estimate",
        "3-5 min until the Auto Scaling group's nodes join (no published typical figure); Terraform's aws_eks_node_group "
        f"create timeout: 60 min ({TF_DOCS}/eks_node_group#timeouts).",
    ),
    Typical(
        "rds-read-replica",
        ("aws:rds/instance:Instance",),
        900,
        "estimate",
        "a replica is restored from a snapshot of its source, then catches up: longer than a single-AZ instance and growing "
        "with the data (https://github.com/hashicorp/terraform/issues/6948); Terraform's aws_db_instance create timeout: "
        f"40 min ({TF_DOCS}/db_instance#timeouts).",
        "`replicateSourceDb` set",
    ),
    Typical(
        "rds-multi-az",
        ("aws:rds/instance:Instance",),
        1200,
        "typical",
        "\"up to 15/20 minutes for an RDS instance to be up and ready with multi_az on\" "
        "(https://github.com/hashicorp/terraform/issues/498, the report that set Terraform's aws_db_instance create timeout "
        f"to 40 min: {TF_DOCS}/db_instance#timeouts).",
        "`multiAz: true`",
    ),
    Typical(
        "rds-single-az",
        ("aws:rds/instance:Instance",),
        600,
        "typical",
        "\"up to 5/10 minutes with multi_az off\" (https://github.com/hashicorp/terraform/issues/498); Terraform's "
        f"aws_db_instance create timeout: 40 min ({TF_DOCS}/db_instance#timeouts).",
        "otherwise",
    ),
    Typical(
        "elasticache-replication-group",
        ("aws:elasticache/replicationGroup:ReplicationGroup",),
        750,
        "estimate",
        "10-15 min for the nodes of the group; Terraform's aws_elasticache_replication_group create timeout: 60 min "
        f"({TF_DOCS}/elasticache_replication_group#timeouts), raised from 50 after test runs reached it "
        "(https://github.com/hashicorp/terraform-provider-aws/pull/4093).",
    ),
    Typical(
        "nat-gateway",
        ("aws:ec2/natGateway:NatGateway",),
        120,
        "estimate",
        "about 2 min from `pending` to `available`; Terraform's aws_nat_gateway create timeout: 10 min "
        "(https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/ec2/vpc_nat_gateway.go).",
    ),
    Typical(
        "acm-validation",
        ("aws:acm/certificateValidation:CertificateValidation",),
        300,
        "estimate",
        "a few minutes once the DNS validation records resolve; Terraform's aws_acm_certificate_validation create timeout: "
        f"75 min ({TF_DOCS}/acm_certificate_validation#timeouts).",
    ),
    Typical(
        "helm-release",
        ("kubernetes:helm.sh/*:Release",),
        120,
        "estimate",
        "images pulled and pods ready; pulumi-kubernetes waits up to the Release's `timeout`, 300 s by default "
        "(https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/).",
    ),
    Typical(
        "load-balancer-service",
        ("kubernetes:core/v1:Service",),
        180,
        "estimate",
        "the load balancer controller provisions an NLB until the Service has an address; pulumi-kubernetes awaits it "
        "for up to 10 min (https://www.pulumi.com/registry/packages/kubernetes/api-docs/core/v1/service/).",
        "`spec.type: LoadBalancer`",
    ),
    Typical(
        "local",
        ("random:*", "pulumi:providers:*"),
        0,
        "typical",
        "computed by the engine or the provider plugin: no cloud API call to wait for.",
    ),
)
DEFAULT = Typical(
    "default",
    ("*",),
    10,
    "estimate",
    "one or a few API calls (VPC pieces, security groups and rules, IAM, KMS, log groups, secrets, DNS records, "
    "Kubernetes objects...).",
    "any other type",
)


def typical(state: Mapping[str, Any]) -> Typical:
    return next((entry for entry in TYPICAL if entry.matches(state)), DEFAULT)


# ---------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class Node:
    urn: str
    type: str
    component: str | None  # URN of the nearest `platform:*` ancestor
    seconds: int
    estimate: str  # key of the Typical entry

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Graph:
    nodes: dict[str, Node]
    deps: dict[str, tuple[str, ...]]  # node -> the nodes it waits for
    components: dict[str, str]  # component URN -> its label (`network`)
    prefix: str = ""  # the stack's resource name prefix (`platform-prod-`), dropped in node labels
    finish: dict[str, int] = field(default_factory=dict)
    via: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        """Earliest finish of every node, and the dependency that decides it (the longest path)."""
        order = topological(self.nodes, self.deps)
        for urn in order:
            before = [(self.finish[d], d) for d in self.deps[urn]]
            # Ties: the dependency reached through more steps, then the URN (a stable choice).
            latest = max(before, key=lambda fd: (fd[0], self._hops(fd[1]), _reverse(fd[1])), default=None)
            self.via[urn] = latest[1] if latest else None
            self.finish[urn] = (latest[0] if latest else 0) + self.nodes[urn].seconds

    def _hops(self, urn: str) -> int:
        hops = 0
        while (urn := self.via.get(urn)) is not None:
            hops += 1
        return hops

    @property
    def total_seconds(self) -> int:
        return max(self.finish.values(), default=0)

    def path_to(self, urn: str) -> list[Node]:
        """The longest chain of dependencies that ends at `urn`, first resource first."""
        out = []
        current: str | None = urn
        while current is not None:
            out.append(self.nodes[current])
            current = self.via[current]
        return out[::-1]

    def critical_path(self) -> list[Node]:
        if not self.nodes:
            return []
        end = max(self.nodes, key=lambda u: (self.finish[u], self._hops(u), _reverse(u)))
        return self.path_to(end)

    def label(self, node: Node) -> str:
        return node.name.removeprefix(self.prefix) or node.name


def _reverse(urn: str) -> tuple[int, ...]:
    """Sorts URNs descending inside a max(): the alphabetically first one wins a tie."""
    return tuple(-ord(c) for c in urn)


def topological(nodes: Iterable[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(urn: str, trail: list[str]) -> None:
        if state.get(urn) == 2:
            return
        if state.get(urn) == 1:
            raise ValueError("dependency cycle: " + " -> ".join(u.rsplit("::", 1)[-1] for u in [*trail, urn]))
        state[urn] = 1
        for dep in deps.get(urn, ()):
            visit(dep, [*trail, urn])
        state[urn] = 2
        order.append(urn)

    for urn in sorted(nodes):
        visit(urn, [])
    return order


def _states(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for step in plan.get("steps") or []:
        state = step.get("newState")
        if step.get("op") in _GONE_OPS or not isinstance(state, Mapping):
            continue
        urn = state.get("urn") or step.get("urn")
        if urn:
            merged = dict(state)
            merged.setdefault("provider", step.get("provider"))
            out[urn] = merged
    return out


def _type_of(urn: str, state: Mapping[str, Any]) -> str:
    return state.get("type") or urn.split("::")[-2].split("$")[-1]


def _provider_urn(reference: Any) -> str | None:
    if not isinstance(reference, str) or "::" not in reference:
        return None
    return reference.rsplit("::", 1)[0]


def component_label(token: str) -> str:
    """`platform:network:Network` -> `network`."""
    parts = token.split(":")
    return parts[1] if len(parts) == 3 else token


def build_graph(plan: Mapping[str, Any]) -> Graph:
    states = _states(plan)
    children: dict[str, list[str]] = defaultdict(list)
    for urn, state in states.items():
        if state.get("parent") in states:
            children[state["parent"]].append(urn)

    def container(urn: str) -> bool:
        kind = _type_of(urn, states[urn])
        return kind == STACK or kind.startswith("platform:") or (not states[urn].get("custom", True) and bool(children.get(urn)))

    def component_of(urn: str) -> str | None:
        parent = states[urn].get("parent")
        while parent in states:
            if _type_of(parent, states[parent]).startswith("platform:"):
                return parent
            parent = states[parent].get("parent")
        return None

    def raw_deps(urn: str) -> list[str]:
        state = states[urn]
        out = list(state.get("dependencies") or [])
        provider = _provider_urn(state.get("provider"))
        if provider:
            out.append(provider)
        return out

    candidates = [u for u in states if not container(u)]
    # A provider with no dependencies of its own is ready at once: not worth a node.
    nodes_set = {u for u in candidates if not (_type_of(u, states[u]).startswith("pulumi:providers:") and not raw_deps(u))}

    def expand(urn: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if urn in nodes_set:
            return {urn}
        if urn in states and urn not in seen and container(urn):
            out: set[str] = set()
            for child in children.get(urn, ()):
                out |= expand(child, seen | {urn})
            return out
        return set()

    nodes = {}
    for urn in nodes_set:
        state = states[urn]
        entry = typical({**state, "type": _type_of(urn, state)})
        nodes[urn] = Node(urn, _type_of(urn, state), component_of(urn), entry.seconds, entry.key)
    deps = {urn: tuple(sorted(set().union(*(expand(d) for d in raw_deps(urn))) - {urn})) for urn in nodes}
    components = {c: component_label(_type_of(c, states[c])) for c in {n.component for n in nodes.values()} if c}
    stack = next((u for u in states if _type_of(u, states[u]) == STACK), None)
    prefix = stack.rsplit("::", 1)[-1] + "-" if stack else ""
    return Graph(nodes, deps, components, prefix)


def transitive_reduction(graph: Graph) -> dict[str, tuple[str, ...]]:
    """Each node's dependencies less those another of its dependencies already waits for."""
    reach: dict[str, frozenset[str]] = {}
    for urn in topological(graph.nodes, graph.deps):
        reach[urn] = frozenset().union(*({d} | reach[d] for d in graph.deps[urn])) if graph.deps[urn] else frozenset()
    return {
        urn: tuple(d for d in deps if not any(d in reach[other] for other in deps if other != d))
        for urn, deps in graph.deps.items()
    }


# ---------------------------------------------------------------------------- rendering


def duration(seconds: int | float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = round(seconds / 60, 1)
    return f"{minutes:g} min"


def clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def short_type(token: str) -> str:
    """`aws:rds/instance:Instance` -> `rds Instance`, `kubernetes:core/v1:Service` -> `k8s Service`."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, kind = parts
    module = module.split("/")[0]
    if package == "kubernetes":
        module = {"core": "k8s", "helm.sh": "helm"}.get(module, module)
    elif module == "index":
        module = package
    elif package == "pulumi":
        return f"{kind} provider"
    return kind if module.lower() == kind.lower() else f"{module} {kind}"


def _safe_id(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _quote(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(graph: Graph, max_nodes: int = MAX_NODES) -> str:
    if len(graph.nodes) > max_nodes:
        return _mermaid_by_component(graph)
    path = graph.critical_path()
    on_path = {n.urn for n in path}
    critical_edges = {(a.urn, b.urn) for a, b in zip(path, path[1:])}
    ids = {urn: f"n{i}" for i, urn in enumerate(sorted(graph.nodes, key=lambda u: (graph.components.get(graph.nodes[u].component or "", "~"), u)))}
    lines = ["flowchart LR"]
    by_component: dict[str | None, list[str]] = defaultdict(list)
    for urn in ids:
        by_component[graph.nodes[urn].component].append(urn)

    def node_line(urn: str, indent: str) -> str:
        node = graph.nodes[urn]
        return f'{indent}{ids[urn]}["{_quote(graph.label(node))}<br/>{_quote(short_type(node.type))}, {duration(node.seconds)}"]'

    for component in sorted((c for c in by_component if c), key=lambda c: graph.components[c]):
        label = graph.components[component]
        lines.append(f'  subgraph c_{_safe_id(label)}["{_quote(label)}"]')
        lines.extend(node_line(urn, "    ") for urn in by_component[component])
        lines.append("  end")
    lines.extend(node_line(urn, "  ") for urn in by_component.get(None, []))

    reduced = transitive_reduction(graph)
    edges = sorted(
        {(d, urn) for urn, deps in reduced.items() for d in deps} | critical_edges,
        key=lambda e: (int(ids[e[0]][1:]), int(ids[e[1]][1:])),
    )
    return _with_edges(lines, edges, ids, critical_edges, on_path)


def _with_edges(lines: list[str], edges: list[tuple[str, str]], ids: Mapping[str, str], critical_edges: set[tuple[str, str]], on_path: Iterable[str]) -> str:
    """The edges, the critical path's nodes and edges in red, and the whole Mermaid text."""
    red = []
    for i, (src, dst) in enumerate(edges):
        lines.append(f"  {ids[src]} --> {ids[dst]}")
        if (src, dst) in critical_edges:
            red.append(str(i))
    lines.append(f"  classDef critical fill:#fde2e1,stroke:{CRITICAL_COLOUR},stroke-width:2px,color:#000")
    marked = sorted(set(on_path), key=lambda key: int(ids[key][1:]))
    if marked:
        lines.append(f"  class {','.join(ids[key] for key in marked)} critical")
    if red:
        lines.append(f"  linkStyle {','.join(red)} stroke:{CRITICAL_COLOUR},stroke-width:3px")
    return "\n".join(lines)


def _mermaid_by_component(graph: Graph) -> str:
    path = graph.critical_path()
    group = {urn: node.component or urn for urn, node in graph.nodes.items()}
    members: dict[str, list[Node]] = defaultdict(list)
    for urn, node in graph.nodes.items():
        members[group[urn]].append(node)
    ids = {g: f"c{i}" for i, g in enumerate(sorted(members, key=lambda g: (graph.components.get(g, "~"), g)))}
    on_path = [group[n.urn] for n in path]
    critical_edges = {(a, b) for a, b in zip(on_path, on_path[1:]) if a != b}
    lines = ["flowchart LR"]
    for g, nodes in sorted(members.items(), key=lambda item: int(ids[item[0]][1:])):
        if g in graph.components:
            label = f"{graph.components[g]}<br/>{len(nodes)} resource{'s' if len(nodes) != 1 else ''}"
        else:
            label = f"{graph.label(nodes[0])}<br/>{short_type(nodes[0].type)}, {duration(nodes[0].seconds)}"
        lines.append(f'  {ids[g]}["{_quote(label)}"]')
    edges = sorted({(group[d], group[urn]) for urn, deps in graph.deps.items() for d in deps if group[d] != group[urn]}, key=lambda e: (int(ids[e[0]][1:]), int(ids[e[1]][1:])))
    return _with_edges(lines, edges, ids, critical_edges, on_path)


def stack_section(stack: str, plan: Mapping[str, Any], level: int = 2, max_nodes: int = MAX_NODES) -> str:
    graph = build_graph(plan)
    path = graph.critical_path()
    collapsed = len(graph.nodes) > max_nodes
    lines = [
        f"{'#' * level} {stack}",
        "",
        f"Estimated from-scratch deploy: **{duration(graph.total_seconds)}**, the critical path below; the other "
        f"{len(graph.nodes) - len(path)} of its {len(graph.nodes)} resources are created beside it.",
        "",
        "Critical path (the longest chain of dependencies, by typical creation time):",
        "",
    ]
    for i, node in enumerate(path, 1):
        lines.append(f"{i}. `{node.name}` ({node.type}): {duration(node.seconds)}, done at {clock(graph.finish[node.urn])}")
    lines += [
        "",
        "One node per component (the stack has more than "
        f"{max_nodes} resources); an edge where a resource of one waits for one of the other."
        if collapsed
        else "Boxes are components; an arrow runs from a dependency to what waits for it (arrows implied by a longer chain "
        "are left out); red is the critical path.",
        "",
        "```mermaid",
        mermaid(graph, max_nodes),
        "```",
        "",
    ]
    return "\n".join(lines)


def estimate_table() -> str:
    lines = ["| resource | when | estimate | basis | source |", "|---|---|---|---|---|"]
    for entry in (*TYPICAL, DEFAULT):
        types = ", ".join(f"`{t}`" for t in entry.types)
        lines.append(f"| {types} | {entry.when or 'always'} | {duration(entry.seconds)} | {entry.basis} | {entry.source} |")
    return "\n".join(lines)


def architecture_document(plans: Mapping[str, Mapping[str, Any]]) -> str:
    out = [
        "# Architecture: dependency graphs and deploy time",
        "",
        "Generated by `make docs` (scripts/architecture_doc.py) from each stack's offline plan; do not edit by hand. "
        "`python -m infra graph --stack NAME` prints one stack's section.",
        "",
        "The estimate of a deployment from scratch is the critical path: the longest chain of dependencies when every "
        "resource takes the typical time below and the engine creates everything else beside it in parallel. A "
        "dependency that puts a slow resource behind another it does not need shows up here as a longer path. "
        "Basis *typical*: the source gives a typical duration; *estimate*: ours, the source gives only an upper bound "
        "(a provider's timeout is its patience, not a duration).",
        "",
        estimate_table(),
        "",
    ]
    for stack, plan in plans.items():
        out.append(stack_section(stack, plan))
    return "\n".join(out)


# ---------------------------------------------------------------------------- the command


def run(args: Any, out: TextIO | None = None) -> int:
    from infra.offline.plan import PLAN_ERRORS, build_plan

    try:
        plan = build_plan(args.stack)
    except (OSError, ValueError, *PLAN_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        text = stack_section(args.stack, plan, level=1)
    except ValueError as exc:  # a dependency cycle
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "output", None):
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=out or sys.stdout)
    else:
        print(text, end="", file=out or sys.stdout)
    return 0

