"""Helm release values against the vendored charts: what Helm would refuse, found in the plan.

`check_release_values(plan)` reads a plan (`python -m infra plan --json` or a real
`pulumi preview --json`) and returns one line per finding:

    <release name>: values.<path>: <what the chart says>
    <release name>: chart <chart> version <version> is not vendored under infra/charts

where `<release name>` is the last part of the Release's URN (`platform-prod-traefik`).
`python -m infra check` prints the same findings as mandatory `chart-values` violations.

Every `kubernetes:helm.sh/v3:Release` the plan leaves in the stack is looked up by its
`chart` and `version` inputs in `infra/charts/<chart>/<version>/` (files fetched from the
chart's repository at the release tag, see infra/charts/SOURCES.md). A release whose chart
or version is not there is a finding: bump the chart by vendoring its files first.

With a `values.schema.json` (what Helm itself validates against):
- the values are first merged over the chart's own `values.yaml`, as Helm does (maps merge
  key by key, a `null` deletes the default), and the result is validated with `jsonschema`
  under the Draft the schema's `$schema` declares (2020-12 if it declares none);
- a key a closed object (`additionalProperties: false`) does not allow is one finding per
  key, at the key's own path, with a hint when the schema has that key one level further
  down (`ports.web.redirections` -> `ports.web.http.redirections`) or a close name (`logs`
  -> `log`); every other schema error is one finding at its path with jsonschema's message.

Without one (aws-load-balancer-controller 3.5.0 ships none), only key names are checked,
against the chart's `values.yaml`: every key path the release sets must exist there, except
below an open map, where any sub-key is allowed. A map is open when
- its default in values.yaml is not a non-empty map: `{}` (podAnnotations, defaultTags,
  certManagement...), null (env, clusterName...), a scalar or a list: values.yaml shows no
  shape to hold the keys to; or
- its key is one of `OPEN_KEYS` or ends with one of `OPEN_SUFFIXES`: maps the chart's
  templates copy through verbatim (`toYaml`) or turn into a list of tags/flags, whatever
  example keys the default shows: annotations, labels, tags, matchLabels, and the
  Kubernetes objects a chart passes to the pod (resources, affinity, nodeSelector,
  [pod]securityContext, probes, updateStrategy, podDisruptionBudget).
No types are checked without a schema. Known gap: templates may read keys values.yaml does
not list (LBC 3.5.0: envFrom, envSecretName, autoscaling.autoscaleBehavior,
certManager.issuerRef); setting one is reported until it is added to the rule here.

Unknown values (the preview's sentinels such as "04da6b54-...", outputs of resources not
created yet) and "[secret]" never make a finding: a schema error whose value is one of them
(or that an `anyOf`/`oneOf` branch would have passed but for one) is dropped, so their type,
format or enum is simply not checked. Keys are always checked.

Reads a plan only: no component is imported (the import-linter contracts in .importlinter).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from infra.review.findings import Finding
from policy import rules

RELEASE = "kubernetes:helm.sh/v3:Release"
CHARTS_DIR = Path(__file__).resolve().parent.parent / "charts"
RULE_ID = "chart-values"

# Maps a chart renders verbatim or as key=value lists: any sub-key is the user's.
OPEN_KEYS = frozenset(
    {
        "annotations",
        "labels",
        "matchLabels",
        "nodeSelector",
        "defaultTags",
        "tags",
        "env",
        "resources",
        "affinity",
        "securityContext",
        "podSecurityContext",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "updateStrategy",
        "podDisruptionBudget",
        # cluster-autoscaler 9.59.0 turns every key into a `--<key>=<value>` flag
        # (templates/deployment.yaml ranges over extraArgs); its default shows three.
        "extraArgs",
    }
)
OPEN_SUFFIXES = ("Annotations", "Labels", "Tags")
# Maps one chart's templates copy through whole, by chart and key path: any sub-key is the
# user's. tempo 2.2.4 renders `tempo.storage` verbatim as Tempo's `storage:` block
# (values.yaml's `config` template: `toYaml .Values.tempo.storage`), while values.yaml
# shows only `trace.backend` and `trace.local`.
# Also keys a chart's templates read that its values.yaml leaves commented out (each read
# at the chart's tag): grafana 12.11.1 `fullnameOverride` (templates/_helpers.tpl),
# `priorityClassName` (templates/_pod.tpl) and `grafana.ini`, whose every section
# templates/_config.tpl renders while values.yaml shows four; kube-prometheus-stack 88.5.3
# `prometheusOperator.priorityClassName` (templates/prometheus-operator/deployment.yaml).
OPEN_PATHS: Mapping[str, frozenset[tuple[str, ...]]] = {
    "tempo": frozenset({("tempo", "storage")}),
    "grafana": frozenset({("fullnameOverride",), ("priorityClassName",), ("grafana.ini",)}),
    "kube-prometheus-stack": frozenset({("prometheusOperator", "priorityClassName")}),
}

_MAX_MESSAGE = 240
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class VendoredChart:
    chart: str
    version: str
    defaults: Mapping[str, Any]
    schema: Mapping[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}"


# ---------------------------------------------------------------------------- the charts


@lru_cache(maxsize=None)
def _load(directory: Path) -> VendoredChart | None:
    values_file, schema_file = directory / "values.yaml", directory / "values.schema.json"
    if not values_file.is_file():
        return None
    defaults = yaml.safe_load(values_file.read_text(encoding="utf-8")) or {}
    schema = json.loads(schema_file.read_text(encoding="utf-8")) if schema_file.is_file() else None
    if schema is not None:
        _validator_class(schema).check_schema(schema)
    return VendoredChart(directory.parent.name, directory.name, _with_subcharts(directory, defaults), schema)


def _with_subcharts(directory: Path, defaults: Mapping[str, Any]) -> Mapping[str, Any]:
    """A chart's defaults with each vendored dependency's own values.yaml under its name
    (or alias), the parent's section over it, as Helm passes a subchart its values: a key
    the subchart takes is a key of the parent's section even where the parent's values.yaml
    does not show it (kube-prometheus-stack's `prometheus-node-exporter.namespaceOverride`)."""
    chart_file = directory / "Chart.yaml"
    meta = yaml.safe_load(chart_file.read_text(encoding="utf-8")) if chart_file.is_file() else {}
    out = dict(defaults)
    for dependency in (meta or {}).get("dependencies") or []:
        sub = _load((directory.parent.parent / str(dependency.get("name")) / str(dependency.get("version"))).resolve())
        if sub is None:
            continue
        key = dependency.get("alias") or dependency["name"]
        out[key] = merged(sub.defaults, defaults.get(key) or {})
    return out


def vendored_chart(chart: Any, version: Any, charts_dir: Path = CHARTS_DIR) -> VendoredChart | None:
    """The vendored files of `chart` at `version`, or None.

    `chart` may be the bare name (with `repositoryOpts.repo`) or `<repo alias>/<name>`.
    """
    if not isinstance(chart, str) or not isinstance(version, str) or not chart or not version:
        return None
    name = chart.rstrip("/").rsplit("/", 1)[-1]
    if not _IDENTIFIER.match(name) or "/" in version or version.startswith("."):
        return None
    return _load((charts_dir / name / version).resolve())


def _validator_class(schema: Mapping[str, Any]) -> type:
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


# ---------------------------------------------------------------------------- helpers


def _path(parts: Iterable[Any]) -> str:
    out = "values"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _unknown(value: Any) -> bool:
    return rules.is_unknown(value) or value == rules.SECRET


def merged(defaults: Any, values: Any) -> Any:
    """Helm's coalescing of user values over a chart's defaults: maps merge, `null` deletes."""
    if not isinstance(values, Mapping) or not isinstance(defaults, Mapping):
        return values
    out = dict(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(defaults.get(key), value)
    return out


def _blames_unknown(error: jsonschema.ValidationError) -> bool:
    """True when the error could vanish once the unknown/secret values are known."""
    if _unknown(error.instance):
        return True
    if error.context:  # anyOf / oneOf: fine if one branch fails only on unknowns
        branches: dict[Any, list[jsonschema.ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0] if sub.relative_schema_path else None].append(sub)
        return any(all(_blames_unknown(sub) for sub in subs) for subs in branches.values())
    return False


def _extra_keys(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    return [k for k in instance if k not in properties and not any(re.search(p, k) for p in patterns)]


def _hint(key: str, candidates: Mapping[str, Any], where: Sequence[Any]) -> str:
    """Where a misplaced key lives one level down, or the closest allowed name."""
    nested = [
        child
        for child, sub in candidates.items()
        if isinstance(sub, Mapping) and isinstance(sub.get("properties"), Mapping) and key in sub["properties"]
    ]
    if nested:
        return "; it belongs under " + " or ".join(f"`{_path([*where, child, key])}`" for child in sorted(nested))
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f"; did you mean `{_path([*where, close[0]])}`?" if close else ""


# ---------------------------------------------------------------------------- the two rules


def _schema_findings(chart: VendoredChart, values: Mapping[str, Any]) -> Iterable[str]:
    assert chart.schema is not None
    validator = _validator_class(chart.schema)(chart.schema)
    source = f"{chart.label} values.schema.json"
    for error in validator.iter_errors(merged(chart.defaults, values)):
        if _blames_unknown(error):
            continue
        where = list(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, Mapping):
            properties = error.schema.get("properties") or {}
            for key in _extra_keys(error.instance, error.schema):
                yield f"{_path([*where, key])}: not allowed by {source} (additionalProperties: false at {_path(where)}){_hint(key, properties, where)}"
        else:
            yield f"{_path(where)}: {source}: {_short(error.message)}"


def _open(key: Any, default: Any) -> bool:
    if not isinstance(default, Mapping) or not default:
        return True
    return isinstance(key, str) and (key in OPEN_KEYS or key.endswith(OPEN_SUFFIXES))


def _key_findings(chart: VendoredChart, values: Mapping[str, Any]) -> Iterable[str]:
    source = f"{chart.label} values.yaml"
    open_paths = OPEN_PATHS.get(chart.chart, frozenset())

    def walk(user: Mapping[str, Any], defaults: Mapping[str, Any], where: list[Any]) -> Iterable[str]:
        for key, value in user.items():
            if tuple([*where, key]) in open_paths:
                continue
            if key not in defaults:
                close = difflib.get_close_matches(str(key), [str(k) for k in defaults], n=1)
                hint = f"; did you mean `{_path([*where, close[0]])}`?" if close else ""
                yield f"{_path([*where, key])}: no such key in {source} (the chart has no values.schema.json){hint}"
            elif isinstance(value, Mapping) and not _open(key, defaults[key]) and tuple([*where, key]) not in open_paths:
                yield from walk(value, defaults[key], [*where, key])

    if isinstance(chart.defaults, Mapping):
        yield from walk(values, chart.defaults, [])


# ---------------------------------------------------------------------------- entry points


def release_findings(resources: Iterable[rules.Resource], charts_dir: Path = CHARTS_DIR) -> list[Finding]:
    """The findings over rule records (`infra.review.check.resources_from_plan`), sorted."""
    out: list[Finding] = []
    for resource in resources:
        if resource.type != RELEASE:
            continue
        inputs = resource.inputs or {}
        chart_name, version = inputs.get("chart"), inputs.get("version")
        chart = vendored_chart(chart_name, version, charts_dir)
        if chart is None:
            shown = "<unknown>" if _unknown(version) else version if isinstance(version, str) and version else "<unset>"
            out.append(Finding(resource.urn, f"chart {chart_name} version {shown} is not vendored under infra/charts"))
            continue
        values = inputs.get("values")
        if values is None:
            values = {}
        if not isinstance(values, Mapping):  # unknown or secret as a whole: nothing to read
            continue
        messages = _schema_findings(chart, values) if chart.schema is not None else _key_findings(chart, values)
        out.extend(Finding(resource.urn, message) for message in messages)
    return sorted(set(out))


def check_release_values(plan: Mapping[str, Any], charts_dir: Path = CHARTS_DIR) -> list[str]:
    """One line per finding, `<release name>: <message>` (see the module docstring)."""
    from infra.review.check import resources_from_plan  # check.py imports this module

    return [f.line for f in release_findings(resources_from_plan(plan), charts_dir)]
