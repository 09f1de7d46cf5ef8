"""Kubernetes objects against the OpenAPI schema of the cluster's version: what the API server would refuse.

`check_kubernetes_objects(plan)` reads a plan (`python -m infra plan --json` or a real
`pulumi preview --json`) and returns one line per finding:

    <resource name>: <field path>: not allowed by the Kubernetes <version> schema of <apiVersion> <Kind> (<Definition> has no such field)[; did you mean `<path>`?]
    <resource name>: <field path>: Kubernetes <version> schema of <apiVersion> <Kind>: <jsonschema's message>
    <resource name>: metadata.labels[<key>]: <why the key or value is not valid label syntax>
    <resource name>: apiVersion: <apiVersion> <Kind> is not served by Kubernetes <version>
    <cluster name>: version: kubernetes-validate <pin> ships no schemas for Kubernetes <version> (...)

where `<resource name>` is the last part of the URN (`platform-prod-traefik-lb`) and a field
path reads like `spec.ports[0].port` or `metadata.labels["app.kubernetes.io/name"]`.
`python -m infra check` prints the same findings as mandatory `kubernetes-schema`
violations (any tier: the API server would refuse the object and the update would fail).

What is checked: every `kubernetes:<group>/<version>:<Kind>` resource the plan leaves in the
stack, except the provider, the pulumi-kubernetes component and meta types (Helm releases and
charts, `yaml`, `kustomize`) and the `...Patch` and `...List` kinds (partial objects). The
manifest is the resource's inputs (`metadata`, `spec`, `data`, `stringData`, `type`, ...),
with `apiVersion` and `kind` taken from the type token (`core/v1` -> `v1`). It is validated
with jsonschema against the *strict* schema (`additionalProperties: false` everywhere, so an
unknown or misspelt field is an error) that `kubernetes-validate` ships for the cluster's
Kubernetes version, every error reported, not only the first. Label keys and values under
`metadata.labels` are also held to the API server's label syntax (apimachinery's
`IsQualifiedName` / `IsValidLabelValue`), which the OpenAPI schema does not express.

The Kubernetes version is read from the plan, never from the components: the `version`
input of each `eks:index:Cluster` (or `aws:eks/cluster:Cluster`); several distinct versions
are each checked; none known (a plan without the cluster) falls back to the newest schemas the
pinned kubernetes-validate ships. A version it has no schemas for is one finding on the cluster.
A group the Kubernetes API has (`apps`, `networking.k8s.io`...) with a kind/version it does
not serve is a finding; any other group is a custom resource without a published schema and
is skipped.

Placeholders never make a finding: "[secret]" and the preview's unknown sentinels
("04da6b54-...") are replaced, before validation, by a stand-in of the type the schema wants
at their place (a string, 0, false, {} or [], the first enum value), and any error left inside
a stand-in is dropped. Their content is simply not checked; keys around them are.

Schemas are loaded once per Kubernetes version and kind (cached). Reads a plan only: no
component is imported (the import-linter contracts in .importlinter).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.resources
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from infra.review.findings import Finding
from policy import rules

RULE_ID = "kubernetes-schema"
CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
# pulumi-kubernetes types that are not Kubernetes objects sent to the API server as such.
SKIPPED_GROUPS = frozenset({"helm.sh", "yaml", "kustomize"})
SKIPPED_KIND_SUFFIXES = ("Patch", "List")

_SCHEMAS = "kubernetes-json-schema"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")
_MAX_MESSAGE = 240
_GROUP, _GROUP_REPLACEMENT = re.compile(r"^([^./]*)(?:\.[^/]*)?/"), r"\1-"
# apimachinery/pkg/util/validation: label values and the name part of qualified names.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ---------------------------------------------------------------------------- the schemas


def _schemas_root() -> Any:
    return importlib.resources.files("kubernetes_validate").joinpath(_SCHEMAS)


def validator_version() -> str:
    return importlib.metadata.version("kubernetes-validate")


@lru_cache(maxsize=None)
def shipped_versions() -> tuple[str, ...]:
    """The Kubernetes minor versions (`1.35`) the installed kubernetes-validate has strict schemas for."""
    found = set()
    for entry in _schemas_root().iterdir():
        match = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", entry.name)
        if match:
            found.add((int(match[1]), int(match[2])))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


def _directory(version: str) -> Any:
    return _schemas_root().joinpath(f"v{version}.0-local-strict")


@dataclass(frozen=True)
class _Version:
    """One Kubernetes version's strict schemas: the shared definitions and a registry over them."""

    version: str
    registry: referencing.Registry
    definitions_uri: str
    names: Mapping[int, str]  # id() of a definition's schema -> its short name (ServiceSpec)
    groups: frozenset[str]  # every API group its definitions name ("" for core, "apps", "networking.k8s.io"...)


@lru_cache(maxsize=None)
def _version(version: str) -> _Version:
    directory = _directory(version)
    definitions = json.loads(directory.joinpath("_definitions.json").read_text(encoding="utf-8"))
    resource = referencing.Resource.from_contents(definitions, default_specification=referencing.jsonschema.DRAFT202012)
    registry = resource @ referencing.Registry()
    names = {id(schema): name.rsplit(".", 1)[-1] for name, schema in (definitions.get("$defs") or {}).items()}
    groups = {
        gvk.get("group", "")
        for schema in (definitions.get("$defs") or {}).values()
        for gvk in schema.get("x-kubernetes-group-version-kind") or ()
    }
    return _Version(version, registry, definitions["$id"], names, frozenset(groups))


@lru_cache(maxsize=None)
def _kind_schema(version: str, file_name: str) -> Mapping[str, Any] | None:
    path = _directory(version).joinpath(file_name)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _validator(version: str, file_name: str) -> tuple[Any, Any] | None:
    """The validator of one kind's schema, and a resolver of its `$ref`s (for the stand-ins)."""
    schema = _kind_schema(version, file_name)
    if schema is None:
        return None
    registry = referencing.Resource.from_contents(schema) @ _version(version).registry
    return jsonschema.Draft202012Validator(schema, registry=registry), registry.resolver(base_uri=schema.get("$id", ""))


# ---------------------------------------------------------------------------- what to check


@dataclass(frozen=True)
class ObjectType:
    api_version: str  # v1, apps/v1, networking.k8s.io/v1
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    @property
    def file_name(self) -> str:
        # As kubernetes_validate.utils.validate builds it.
        return f"{self.kind.lower()}-{_GROUP.sub(_GROUP_REPLACEMENT, self.api_version)}.json"


def object_type(token: str) -> ObjectType | None:
    """`kubernetes:core/v1:Service` -> (v1, Service); None for what is not a Kubernetes object."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, version = parts[1].rsplit("/", 1)
    kind = parts[2]
    if group in SKIPPED_GROUPS or not kind or kind.endswith(SKIPPED_KIND_SUFFIXES):
        return None
    return ObjectType(version if group == "core" else f"{group}/{version}", kind)


def _placeholder(value: Any) -> bool:
    return rules.is_unknown(value) or value == rules.SECRET


def _minor(value: Any) -> str | None:
    match = _VERSION.match(value) if isinstance(value, str) else None
    return f"{int(match[1])}.{int(match[2])}" if match else None


def kubernetes_versions(resources: Iterable[rules.Resource]) -> tuple[list[str], list[Finding]]:
    """The Kubernetes versions to validate against (from the clusters' `version` inputs) and
    one finding per cluster whose version the installed schemas do not cover."""
    wanted: dict[str, str] = {}
    for resource in resources:
        if resource.type in CLUSTER_TYPES:
            minor = _minor((resource.inputs or {}).get("version"))
            if minor is not None:
                wanted.setdefault(minor, resource.urn)
    shipped = shipped_versions()
    if not wanted:
        return [shipped[-1]], []
    findings = [
        Finding(
            urn,
            f"version: kubernetes-validate {validator_version()} ships no schemas for Kubernetes {minor} "
            f"(it has {shipped[0]} to {shipped[-1]}): pin a release that does",
        )
        for minor, urn in sorted(wanted.items())
        if minor not in shipped
    ]
    return sorted(m for m in wanted if m in shipped), findings


# ---------------------------------------------------------------------------- placeholders


def _resolve(schema: Any, resolver: Any) -> tuple[Any, Any]:
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    return schema, resolver


def _stand_in(schema: Any, resolver: Any, placeholder: str) -> Any:
    """A value of the type `schema` wants, for a placeholder whose real value is not known."""
    schema, resolver = _resolve(schema, resolver)
    if not isinstance(schema, Mapping):
        return placeholder
    enum = [v for v in schema.get("enum") or () if v is not None]
    if enum:
        return enum[0]
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return _stand_in(schema[key][0], resolver, placeholder)
    types = schema.get("type")
    types = [t for t in ([types] if isinstance(types, str) else types or []) if t != "null"]
    if not types:
        return placeholder  # anything goes here: the placeholder itself is valid
    kind = types[0]
    if kind == "string":
        return {"byte": "AA==", "date-time": "1970-01-01T00:00:00Z"}.get(schema.get("format"), "stand-in")
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return {"boolean": False, "object": {}, "array": []}.get(kind, placeholder)


def with_stand_ins(value: Any, schema: Any, resolver: Any, at: tuple[Any, ...], found: list[tuple[Any, ...]]) -> Any:
    """`value` with every placeholder replaced by a stand-in; their paths appended to `found`."""
    schema, resolver = _resolve(schema, resolver)
    schema = schema if isinstance(schema, Mapping) else {}
    if _placeholder(value):
        found.append(at)
        return _stand_in(schema, resolver, value)
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            key: with_stand_ins(item, properties.get(key, extra if isinstance(extra, Mapping) else {}), resolver, (*at, key), found)
            for key, item in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items")
        items = items if isinstance(items, Mapping) else {}
        return [with_stand_ins(item, items, resolver, (*at, i), found) for i, item in enumerate(value)]
    return value


# ---------------------------------------------------------------------------- findings


def field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(the object)"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _schema_messages(manifest: Mapping[str, Any], kind: ObjectType, version: str) -> Iterable[str]:
    compiled = _validator(version, kind.file_name)
    if compiled is None:
        if kind.group in _version(version).groups:
            yield f"apiVersion: {kind.api_version} {kind.kind} is not served by Kubernetes {version}"
        return  # a custom resource: no published schema
    validator, resolver = compiled
    placeholders: list[tuple[Any, ...]] = []
    instance = with_stand_ins(manifest, validator.schema, resolver, (), placeholders)
    source = f"Kubernetes {version} schema of {kind.api_version} {kind.kind}"
    names = _version(version).names
    for error in validator.iter_errors(instance):
        where = tuple(error.absolute_path)
        if any(where[: len(p)] == p for p in placeholders):
            continue
        if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, Mapping):
            properties = error.schema.get("properties") or {}
            owner = names.get(id(error.schema))
            owner = f"{owner} has no such field" if owner else "no such field"
            for key in error.instance:
                if key in properties:
                    continue
                close = difflib.get_close_matches(str(key), [str(k) for k in properties], n=1)
                hint = f"; did you mean `{field_path([*where, close[0]])}`?" if close else ""
                yield f"{field_path([*where, key])}: not allowed by the {source} ({owner}){hint}"
        else:
            yield f"{field_path(where)}: {source}: {_short(error.message)}"


def _label_messages(manifest: Mapping[str, Any]) -> Iterable[str]:
    metadata = manifest.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        where = field_path(["metadata", "labels", key])
        problem = _label_key_problem(key)
        if problem:
            yield f"{where}: label key {json.dumps(key)} {problem} (the API server's label syntax)"
        if isinstance(value, str) and not _placeholder(value):
            if len(value) > 63:
                yield f"{where}: label value {json.dumps(value)} is longer than 63 characters (the API server's label syntax)"
            elif not _LABEL_VALUE.match(value):
                yield (
                    f"{where}: label value {json.dumps(value)} is not valid: alphanumerics, '-', '_' or '.', "
                    "starting and ending with an alphanumeric, or empty (the API server's label syntax)"
                )


def _label_key_problem(key: Any) -> str | None:
    if not isinstance(key, str):
        return "is not a string"
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return "has more than one '/'"
    if key.endswith("/") or not name:
        return "has an empty name"
    if len(name) > 63 or not _LABEL_VALUE.match(name):
        return "has an invalid name part: at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return "has an invalid prefix: a lowercase DNS subdomain of at most 253 characters"
    return None


def manifest_of(resource: rules.Resource, kind: ObjectType) -> dict[str, Any] | None:
    inputs = resource.inputs
    if not isinstance(inputs, Mapping):  # unknown or secret as a whole: nothing to read
        return None
    return {**inputs, "apiVersion": kind.api_version, "kind": kind.kind}


# ---------------------------------------------------------------------------- entry points


def object_findings(resources: Sequence[rules.Resource]) -> list[Finding]:
    """The findings over rule records (`infra.review.check.resources_from_plan`), sorted."""
    objects = [(r, t) for r in resources if (t := object_type(r.type)) is not None]
    if not objects:
        return []
    versions, out = kubernetes_versions(resources)
    for resource, kind in objects:
        manifest = manifest_of(resource, kind)
        if manifest is None:
            continue
        for version in versions:
            out.extend(Finding(resource.urn, message) for message in _schema_messages(manifest, kind, version))
        out.extend(Finding(resource.urn, message) for message in _label_messages(manifest))
    return sorted(set(out))


def check_kubernetes_objects(plan: Mapping[str, Any]) -> list[str]:
    """One line per finding, `<resource name>: <field path>: <message>` (see the module docstring)."""
    from infra.review.check import resources_from_plan  # check.py imports this module

    return [f.line for f in object_findings(resources_from_plan(plan))]

