"""Kubernetes objects against the strict OpenAPI schema of the cluster's version (infra/review/k8s_objects.py, `infra check`)."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest

from infra import cli
from infra.review import k8s_objects
from tests.conftest import plan

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SERVICE = "platform-dev-traefik-lb"
NAMESPACE = "platform-dev-ns-app"
CONFIG_MAP = "platform-dev-app-app-config"
SECRET = "platform-dev-app-app-secrets"
OBJECT_TYPES = {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Service"}


def doctored() -> dict[str, Any]:
    return copy.deepcopy(plan("dev").data)


def state(data: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s["newState"] for s in data["steps"] if s["newState"]["urn"].endswith(f"::{name}")]
    return found


def inputs(data: dict[str, Any], name: str) -> dict[str, Any]:
    return state(data, name)["inputs"]


# ---------------------------------------------------------------------------- the committed stacks


def test_every_kubernetes_object_of_every_stack_validates(stack):
    data = plan(stack).data
    types = {s["newState"]["type"] for s in data["steps"] if s["newState"]["type"].startswith("kubernetes:")}
    assert OBJECT_TYPES <= types
    assert k8s_objects.check_kubernetes_objects(data) == []


def test_the_version_comes_from_the_plans_cluster_and_its_schemas_are_shipped(stack):
    from infra.review.check import resources_from_plan

    versions, findings = k8s_objects.kubernetes_versions(resources_from_plan(plan(stack).data))
    assert (versions, findings) == (["1.35"], [])
    assert k8s_objects.validator_version() == "1.37.0"
    assert "1.35" in k8s_objects.shipped_versions()


def test_what_is_and_is_not_a_kubernetes_object():
    assert k8s_objects.object_type("kubernetes:core/v1:Service") == k8s_objects.ObjectType("v1", "Service")
    assert k8s_objects.object_type("kubernetes:apps/v1:Deployment").file_name == "deployment-apps-v1.json"
    rbac = k8s_objects.object_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    assert (rbac.api_version, rbac.file_name) == ("rbac.authorization.k8s.io/v1", "clusterrole-rbac-v1.json")
    for token in (
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:core/v1:ConfigMapPatch",
        "kubernetes:core/v1:ServiceList",
        "pulumi:providers:kubernetes",
        "aws:ec2/vpc:Vpc",
    ):
        assert k8s_objects.object_type(token) is None, token


# ---------------------------------------------------------------------------- doctored plans


def _service_unknown_field(data):
    inputs(data, SERVICE)["spec"]["externalTrafficPolcy"] = "Local"


def _service_wrong_type(data):
    inputs(data, SERVICE)["spec"]["ports"][0]["port"] = "eighty"


def _service_top_level_typo(data):
    svc = inputs(data, SERVICE)
    svc["sepc"] = svc.pop("spec")


def _namespace_label_not_a_string(data):
    inputs(data, NAMESPACE)["metadata"]["labels"]["team"] = True


def _namespace_bad_label_value(data):
    inputs(data, NAMESPACE)["metadata"]["labels"]["team"] = "front end"


def _namespace_bad_label_key(data):
    inputs(data, NAMESPACE)["metadata"]["labels"]["Example.com/team"] = "web"


def _config_map_number(data):
    inputs(data, CONFIG_MAP)["data"]["MAX_CONNECTIONS"] = 10


def _secret_unknown_field(data):
    inputs(data, SECRET)["stringDate"] = {"a": "b"}


def _removed_api(data):
    svc = state(data, SERVICE)
    svc["type"] = "kubernetes:extensions/v1beta1:Ingress"


FAILING = [
    (
        "service-unknown-field",
        _service_unknown_field,
        "platform-dev-traefik-lb: spec.externalTrafficPolcy: not allowed by the Kubernetes 1.35 schema of v1 Service "
        "(ServiceSpec has no such field); did you mean `spec.externalTrafficPolicy`?",
    ),
    (
        "service-wrong-type",
        _service_wrong_type,
        "platform-dev-traefik-lb: spec.ports[0].port: Kubernetes 1.35 schema of v1 Service: 'eighty' is not of type 'integer'",
    ),
    (
        "service-top-level-typo",
        _service_top_level_typo,
        "platform-dev-traefik-lb: sepc: not allowed by the Kubernetes 1.35 schema of v1 Service (no such field); did you mean `spec`?",
    ),
    (
        "namespace-label-not-a-string",
        _namespace_label_not_a_string,
        "platform-dev-ns-app: metadata.labels.team: Kubernetes 1.35 schema of v1 Namespace: True is not of type 'string', 'null'",
    ),
    (
        "namespace-bad-label-value",
        _namespace_bad_label_value,
        "platform-dev-ns-app: metadata.labels.team: label value \"front end\" is not valid: alphanumerics, '-', '_' or '.', "
        "starting and ending with an alphanumeric, or empty (the API server's label syntax)",
    ),
    (
        "namespace-bad-label-key",
        _namespace_bad_label_key,
        "platform-dev-ns-app: metadata.labels[\"Example.com/team\"]: label key \"Example.com/team\" has an invalid prefix: "
        "a lowercase DNS subdomain of at most 253 characters (the API server's label syntax)",
    ),
    (
        "config-map-number",
        _config_map_number,
        "platform-dev-app-app-config: data.MAX_CONNECTIONS: Kubernetes 1.35 schema of v1 ConfigMap: 10 is not of type 'string', 'null'",
    ),
    (
        "secret-unknown-field",
        _secret_unknown_field,
        "platform-dev-app-app-secrets: stringDate: not allowed by the Kubernetes 1.35 schema of v1 Secret (no such field); "
        "did you mean `stringData`?",
    ),
    (
        "removed-api",
        _removed_api,
        "platform-dev-traefik-lb: apiVersion: extensions/v1beta1 Ingress is not served by Kubernetes 1.35",
    ),
]


@pytest.mark.parametrize(("mutate", "line"), [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_doctored_objects_give_exactly_their_line(mutate, line):
    data = doctored()
    mutate(data)
    assert k8s_objects.check_kubernetes_objects(data) == [line]


def test_every_error_of_an_object_is_reported_not_only_the_first():
    data = doctored()
    _service_unknown_field(data)
    _service_wrong_type(data)
    _config_map_number(data)
    assert [line.split(": ")[:2] for line in k8s_objects.check_kubernetes_objects(data)] == [
        ["platform-dev-app-app-config", "data.MAX_CONNECTIONS"],
        ["platform-dev-traefik-lb", "spec.externalTrafficPolcy"],
        ["platform-dev-traefik-lb", "spec.ports[0].port"],
    ]


def test_the_version_is_the_clusters_and_an_unshipped_one_is_a_finding():
    data = doctored()
    # 1.25 has no `trafficDistribution` in ServiceSpec; the schema of the plan's version decides.
    inputs(data, SERVICE)["spec"]["trafficDistribution"] = "PreferClose"
    assert k8s_objects.check_kubernetes_objects(data) == []
    state(data, "platform-dev-eks")["inputs"]["version"] = "1.25"
    assert k8s_objects.check_kubernetes_objects(data) == [
        "platform-dev-traefik-lb: spec.trafficDistribution: not allowed by the Kubernetes 1.25 schema of v1 Service "
        "(ServiceSpec has no such field)"
    ]
    state(data, "platform-dev-eks")["inputs"]["version"] = "1.99"
    assert k8s_objects.check_kubernetes_objects(data) == [
        "platform-dev-eks: version: kubernetes-validate 1.37.0 ships no schemas for Kubernetes 1.99 (it has 1.25 to 1.37): pin a release that does"
    ]


# ---------------------------------------------------------------------------- what must not fail


def test_secret_and_unknown_placeholders_are_not_findings():
    """A real preview: outputs not known yet and secrets masked, where the schema wants a type."""
    data = doctored()
    svc = inputs(data, SERVICE)
    svc["spec"]["ports"][0]["port"] = UNKNOWN  # integer
    svc["spec"]["ports"][1]["targetPort"] = "[secret]"  # int-or-string
    svc["spec"]["allocateLoadBalancerNodePorts"] = UNKNOWN  # boolean
    svc["spec"]["sessionAffinityConfig"] = UNKNOWN  # a whole object
    svc["spec"]["loadBalancerSourceRanges"] = "[secret]"  # a list
    svc["metadata"]["annotations"]["example.com/arn"] = UNKNOWN
    svc["metadata"]["labels"]["example.com/env"] = UNKNOWN  # a label value: syntax not checked
    secret = inputs(data, SECRET)
    assert secret["stringData"] == "[secret]"  # a map, masked as a whole, in every committed plan
    secret["data"] = {"key": "[secret]"}  # format: byte
    secret["immutable"] = UNKNOWN
    secret["type"] = UNKNOWN
    inputs(data, CONFIG_MAP)["metadata"] = UNKNOWN  # required fields inside: not checked
    inputs(data, NAMESPACE)["metadata"]["name"] = "[secret]"
    assert k8s_objects.check_kubernetes_objects(data) == []
    # ...while a real error beside a placeholder still is one
    _service_wrong_type(data)
    assert [line.split(": ")[1] for line in k8s_objects.check_kubernetes_objects(data)] == ["spec.ports[0].port"]


def test_an_object_being_deleted_and_custom_resources_are_not_checked():
    data = doctored()
    _service_unknown_field(data)
    for step in data["steps"]:
        if step["newState"]["urn"].endswith(f"::{SERVICE}"):
            step["op"] = "delete"
    ns = state(data, NAMESPACE)
    ns["type"] = "kubernetes:traefik.io/v1alpha1:Middleware"  # a CRD: no published schema
    ns["inputs"]["spec"] = {"anything": True}
    cm = state(data, CONFIG_MAP)
    cm["type"] = "kubernetes:networking.istio.io/v1:VirtualService"  # a CRD in a look-alike group
    assert k8s_objects.check_kubernetes_objects(data) == []


def test_a_plan_without_a_cluster_falls_back_to_the_newest_schemas():
    data = doctored()
    data["steps"] = [s for s in data["steps"] if s["newState"]["type"] != "eks:index:Cluster"]
    _config_map_number(data)
    newest = k8s_objects.shipped_versions()[-1]
    assert k8s_objects.check_kubernetes_objects(data) == [
        f"platform-dev-app-app-config: data.MAX_CONNECTIONS: Kubernetes {newest} schema of v1 ConfigMap: 10 is not of type 'string', 'null'"
    ]


# ---------------------------------------------------------------------------- `infra check`


def test_infra_check_fails_a_plan_file_with_a_bad_object(tmp_path, capsys):
    data = doctored()
    _service_unknown_field(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    assert cli.main(["check", "--plan", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if " kubernetes-schema " in line] == [
        "MANDATORY kubernetes-schema urn:pulumi:dev::platform::platform:edge:Edge$kubernetes:core/v1:Service::platform-dev-traefik-lb: "
        "spec.externalTrafficPolcy: not allowed by the Kubernetes 1.35 schema of v1 Service (ServiceSpec has no such field); "
        "did you mean `spec.externalTrafficPolicy`?"
    ]
    assert lines[-1].startswith("policy check FAILED: ")


def test_infra_check_passes_the_committed_plan_file(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan("dev").data))
    cli.main(["check", "--plan", str(path)])  # its exit status is the whole rule table's
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("policy check ")
    assert "kubernetes-schema" not in out


def test_schemas_are_loaded_once():
    data = plan("prod").data
    k8s_objects.check_kubernetes_objects(data)
    before = k8s_objects._validator.cache_info()
    k8s_objects.check_kubernetes_objects(data)
    after = k8s_objects._validator.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
