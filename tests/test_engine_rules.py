"""The engine's own rules (issue 14 item 3): the offline harness refuses what the Pulumi engine
refuses at registration, with the engine's message and a non-zero exit.

Each rule runs a few-line program through the one harness (`run_program` on a temp project:
`__main__.py`, `Pulumi.dev.yaml`, and a `Pulumi.yaml` where default providers matter).
Rules no SDK call can break (a malformed or unregistered URN) are reached with a raw
`RegisterResourceRequest` sent to the monitor from inside the program, once the URNs it
names exist. docs/offline-engine.md lists every rule with the engine source it mirrors.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra.cli import main as cli_main
from infra.offline.errors import EngineError
from infra.offline.harness import ROOT, disabled_default_providers, read_stack_file, run_program
from infra.offline.mocks import _GO_DURATION, _property_path_error
from tests.conftest import STACKS, plan

STACK_FILE = "config:\n  aws:region: us-east-1\n"
DENY = "name: platform\nruntime: python\nconfig:\n  pulumi:disable-default-providers:\n    value: {}\n"
PREFIX = "urn:pulumi:dev::platform::"


def project(tmp_path: Path, program: str, *, deny: str | None = None, stack_file: str = STACK_FILE) -> Path:
    (tmp_path / "__main__.py").write_text(textwrap.dedent(program), encoding="utf-8")
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file, encoding="utf-8")
    if deny is not None:
        (tmp_path / "Pulumi.yaml").write_text(DENY.format(deny), encoding="utf-8")
    return tmp_path


def refused(tmp_path: Path, program: str, **kwargs) -> EngineError:
    with pytest.raises(EngineError) as info:
        run_program("dev", root=project(tmp_path, program, **kwargs))
    return info.value


def planned(tmp_path: Path, program: str, **kwargs):
    return run_program("dev", root=project(tmp_path, program, **kwargs))


# A raw request, sent once the component `c` and the provider `p` exist: the URNs it names are
# the mock's, as the SDK would send them. `{c}`, `{p}` and `{pid}` are filled in.
RAW = """
import pulumi
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_monitor

c = pulumi.ComponentResource("test:index:C", "c")
p = pulumi.ProviderResource("test", "p", {{}})


def send(args):
    c, p, pid = args
    get_monitor().RegisterResource(resource_pb2.RegisterResourceRequest({request}))


pulumi.Output.all(c.urn, p.urn, p.id).apply(send)
"""


def raw(request: str) -> str:
    return RAW.format(request=request)


# ---------------------------------------------------------------------- URNs


def test_duplicate_urn(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("test:index:Thing", "same", {})
        pulumi.CustomResource("test:index:Thing", "same", {})
    """)
    assert str(error) == f"Duplicate resource URN '{PREFIX}test:index:Thing::same'; try giving it a unique name"
    assert error.rule == "duplicate-urn" and "step_generator.go:284" in error.source
    assert len(error.registered) == 1  # the second never reached the mocks


def test_children_of_same_type_parents_share_a_urn(tmp_path):
    """The engine's URN holds the parent's type, not its name: same-named children of two
    components of one type collide, the classic reason to prefix child names."""
    error = refused(tmp_path, """
        import pulumi
        for name in ("a", "b"):
            parent = pulumi.ComponentResource("test:index:Comp", name)
            pulumi.CustomResource("test:index:Thing", "child", {}, opts=pulumi.ResourceOptions(parent=parent))
    """)
    assert str(error) == f"Duplicate resource URN '{PREFIX}test:index:Comp$test:index:Thing::child'; try giving it a unique name"


def test_urns_follow_the_engine_not_the_mocks(tmp_path):
    """The mock's URN keeps only the parent's own type; the engine's the whole chain. Children
    under differently typed grandparents are distinct resources and plan."""
    run = planned(tmp_path, """
        import pulumi
        for outer in ("test:index:A", "test:index:B"):
            top = pulumi.ComponentResource(outer, outer.rsplit(":", 1)[-1])
            mid = pulumi.ComponentResource("test:index:Mid", "mid-" + outer[-1], opts=pulumi.ResourceOptions(parent=top))
            pulumi.CustomResource("test:index:Thing", "leaf", {}, opts=pulumi.ResourceOptions(parent=mid))
    """)
    assert sum(r.type == "test:index:Thing" for r in run.registrations) == 2


def test_type_token(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("notatoken", "n", {})
    """)
    assert str(error) == "Type 'notatoken' is not a valid type token (must have format '*:*:*')"


def test_component_types_may_take_any_form(tmp_path):
    planned(tmp_path, """
        import pulumi
        pulumi.ComponentResource("anything-goes", "c")
    """)


def test_unregistered_parent(tmp_path):
    error = refused(tmp_path, raw(f'type="test:index:Thing", name="t", custom=True, parent="{PREFIX}test:index:C::ghost"'))
    assert str(error) == f"could not find parent resource {PREFIX}test:index:C::ghost"
    assert error.rule == "unregistered-parent"


def test_parent_urn_must_parse(tmp_path):
    error = refused(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent="not-a-urn"'))
    assert str(error) == 'invalid parent URN: invalid URN "not-a-urn"'


def test_dependency_urn_must_parse(tmp_path):
    error = refused(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent=c, dependencies=["urn:pulumi:short"]'))
    assert str(error) == 'invalid dependency URN: invalid URN "urn:pulumi:short"'


def test_property_dependency_urn_must_parse(tmp_path):
    request = 'type="test:index:Thing", name="t", custom=True, parent=c, propertyDependencies={"vpcId": resource_pb2.RegisterResourceRequest.PropertyDependencies(urns=[""])}'
    error = refused(tmp_path, raw(request))
    assert str(error) == "invalid dependency on property vpcId URN: missing required URN"


def test_dependency_on_a_missing_resource(tmp_path):
    error = refused(tmp_path, raw(f'type="test:index:Thing", name="t", custom=True, parent=c, dependencies=["{PREFIX}test:index:Gone::g"]'))
    assert str(error) == (
        f"failed to verify snapshot: resource {PREFIX}test:index:C$test:index:Thing::t's dependency "
        f"{PREFIX}test:index:Gone::g refers to missing resource"
    )


def test_deleted_with_urn_must_parse(tmp_path):
    error = refused(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent=c, deletedWith="nope"'))
    assert str(error) == 'invalid DeletedWith URN: invalid URN "nope"'


def test_alias_urn_must_parse(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("test:index:Thing", "n", {}, opts=pulumi.ResourceOptions(aliases=["not-a-urn"]))
    """)
    assert str(error) == 'invalid alias URN: invalid URN "not-a-urn"'


def test_alias_parent_urn_must_parse(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("test:index:Thing", "n", {}, opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(parent="bad")]))
    """)
    assert str(error) == 'invalid parent alias URN: invalid URN "bad"'


# ---------------------------------------------------------------------- options


def test_env_var_mappings_only_on_providers(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.ProviderResource("test", "p", {}, opts=pulumi.ResourceOptions(env_var_mappings={"A": "B"}))
        pulumi.CustomResource("test:index:Thing", "n", {}, opts=pulumi.ResourceOptions(env_var_mappings={"A": "B"}))
    """)
    assert str(error) == "envVarMappings can only be used with provider resources"
    assert [r.type for r in error.registered] == ["pulumi:providers:test"]


def test_hide_diffs_paths_must_parse(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("test:index:Thing", "n", {}, opts=pulumi.ResourceOptions(hide_diffs=["tags", "rules[x]"]))
    """)
    assert str(error) == '1: invalid array index: strconv.ParseInt: parsing "x": invalid syntax'


@pytest.mark.parametrize(
    "path, message",
    [
        (".a", "expected property path to start with a name or index"),
        ("a.", "expected property path to end with a name or index"),
        ('a["b', "missing closing quote in property name"),
        ('a["b"c', "missing closing bracket in property access"),
        ("a[0", "missing closing bracket in array index"),
        ("a[]", 'invalid array index: strconv.ParseInt: parsing "": invalid syntax'),
        ("a[99999999999999999999]", 'invalid array index: strconv.ParseInt: parsing "99999999999999999999": value out of range'),
    ],
)
def test_property_path_errors_are_the_engines(path, message):
    assert _property_path_error(path) == message


@pytest.mark.parametrize("path", ["root", "root.nested", 'root["nested"]', "root.array[0].nested", "root.array[*].field",
                                  'root["key with \\"escaped\\" quotes"]', '["root key with a ."][100]', "foo-bar", "a.[0]"])
def test_property_paths_the_engine_accepts(path):
    assert _property_path_error(path) is None


def test_custom_timeouts_must_be_go_durations(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("test:index:Thing", "n", {}, opts=pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="10 minutes")))
    """)
    assert str(error) == "unable to parse customTimeout Value 10 minutes"


@pytest.mark.parametrize("value", ["1h", "1h30m", "1.5h", "300ms", "0", "-1s", ".5s", "1.s", "2\u00b5s", "10m0s"])
def test_go_durations_accepted(value):
    assert _GO_DURATION.match(value)


@pytest.mark.parametrize("value", ["10", "10 minutes", "1d", "h", ".s", "1h ", "+", "5 m"])
def test_go_durations_refused(value):
    assert not _GO_DURATION.match(value)


# ---------------------------------------------------------------------- providers

EXPLICIT = """
import pulumi
aws = pulumi.ProviderResource("aws", "aws", {})
parent = pulumi.ComponentResource("test:index:C", "c", opts=pulumi.ResourceOptions(providers=[aws]))
pulumi.CustomResource("aws:s3/bucket:Bucket", "in-component", {}, opts=pulumi.ResourceOptions(parent=parent))
pulumi.CustomResource("aws:s3/bucket:Bucket", "explicit", {}, opts=pulumi.ResourceOptions(provider=aws))
pulumi.CustomResource("random:index/randomId:RandomId", "not-denied", {})
pulumi.runtime.invoke("aws:index/getRegion:getRegion", {}, opts=pulumi.InvokeOptions(provider=aws))
pulumi.runtime.invoke("aws:index/getRegion:getRegion", {}, opts=pulumi.InvokeOptions(parent=parent))
"""


def test_explicit_providers_pass_a_denied_package(tmp_path):
    run = planned(tmp_path, EXPLICIT, deny="[aws]")
    assert sum(r.type == "aws:s3/bucket:Bucket" for r in run.registrations) == 2


def test_default_provider_denied(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {})
    """, deny="[aws]")
    assert str(error) == f"Default provider for 'aws' disabled. '{PREFIX}aws:s3/bucket:Bucket::b' must use an explicit provider."
    assert error.registered == []


def test_a_provider_of_another_package_falls_back_to_the_denied_default(tmp_path):
    """The SDK drops a `provider=` of the wrong package; the engine then wants the default one."""
    error = refused(tmp_path, """
        import pulumi
        cloudflare = pulumi.ProviderResource("cloudflare", "cloudflare", {})
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {}, opts=pulumi.ResourceOptions(provider=cloudflare))
    """, deny="[aws]")
    assert str(error) == f"Default provider for 'aws' disabled. '{PREFIX}aws:s3/bucket:Bucket::b' must use an explicit provider."


def test_star_denies_every_package_but_pulumi(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("pulumi:pulumi:StackReference", "ref", {"name": "org/other/dev"})
        pulumi.CustomResource("random:index/randomId:RandomId", "r", {})
    """, deny='["*"]')
    assert str(error) == f"Default provider for 'random' disabled. '{PREFIX}random:index/randomId:RandomId::r' must use an explicit provider."


def test_the_stack_file_overrides_the_project(tmp_path):
    planned(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {})
    """, deny="[aws]", stack_file=STACK_FILE + "  pulumi:disable-default-providers: []\n")


def test_without_the_setting_default_providers_are_allowed(tmp_path):
    planned(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {})
    """)


def test_denylist_entries_must_be_strings(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {})
    """, deny="[1, aws]")  # in order: a match before the bad entry denies (default_providers.go:289-300)
    assert str(error) == "pulumi:disable-default-providers[0] must be a string"


def test_invoke_with_a_denied_default_provider(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.runtime.invoke("aws:index/getRegion:getRegion", {})
    """, deny="[aws]")
    assert str(error) == "Invoke: Default provider for 'aws' disabled. 'aws:index/getRegion:getRegion' must use an explicit provider."


def test_remote_component_with_a_denied_default_provider(tmp_path):
    error = refused(tmp_path, """
        import pulumi
        pulumi.ComponentResource("kubernetes:helm.sh/v4:Chart", "chart", {}, remote=True)
    """, deny="[kubernetes]")
    assert str(error) == "Default provider for 'kubernetes' disabled. 'kubernetes:helm.sh/v4:Chart' must use an explicit provider."


def test_read_with_a_denied_default_provider(tmp_path):
    """ReadResource formats the type where the others put the package (source_eval.go:1473-1474)."""
    error = refused(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:ec2/vpc:Vpc", "v", {}, opts=pulumi.ResourceOptions(id="vpc-0123"))
    """, deny="[aws]")
    assert str(error) == "Default provider for 'aws:ec2/vpc:Vpc' disabled. 'aws:ec2/vpc:Vpc' must use an explicit provider."


def test_unknown_provider(tmp_path):
    error = refused(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent=c, provider=f"{p}::not-its-id"'))
    assert str(error) == (
        f"unknown provider '{PREFIX}pulumi:providers:test::p::not-its-id' for resource '{PREFIX}test:index:C$test:index:Thing::t'"
    )
    assert error.rule == "unknown-provider"


def test_the_registered_provider_is_known(tmp_path):
    planned(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent=c, provider=f"{p}::{pid}"'))


def test_provider_reference_must_parse(tmp_path):
    error = refused(tmp_path, raw(f'type="test:index:Thing", name="t", custom=True, parent=c, provider="{PREFIX}test:index:C::c::id"'))
    assert str(error) == "could not parse provider reference: invalid module in type: expected 'pulumi:providers', got 'test:index'"


def test_provider_reference_needs_an_id(tmp_path):
    error = refused(tmp_path, raw('type="test:index:Thing", name="t", custom=True, parent=c, provider="p"'))
    assert str(error) == "could not parse provider reference: expected '::' in provider reference 'p'"


# ---------------------------------------------------------------------- the committed program


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_pass_every_rule(stack):
    assert plan(stack).data["changeSummary"]["create"] > 1  # planning ran every rule; none refused


def test_committed_project_denies_the_default_providers():
    """What makes the provider rules bite on the real program: Pulumi.yaml's setting is read."""
    assert set(disabled_default_providers(ROOT, read_stack_file("dev"))) == {"aws", "kubernetes", "cloudflare"}


def test_cli_plan_prints_the_engine_message_on_one_line(tmp_path, capsys):
    root = project(tmp_path, """
        import pulumi
        pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {})
    """, deny="[aws]")
    code = cli_main(["plan", "--stack", "dev", "--dir", str(root)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == f"error: Default provider for 'aws' disabled. '{PREFIX}aws:s3/bucket:Bucket::b' must use an explicit provider.\n"
