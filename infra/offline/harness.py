"""Run the real `__main__.py` under Pulumi's mocks with a stack file's config.

No CLI, credentials or network: the stack file is read here the way the engine would
pass it (objects as JSON strings, `secure:` values as secrets). A `secure:` value cannot be
decrypted without the stack's secrets provider, so it becomes a placeholder marked secret,
as does every secret key the stack file leaves out (each user sets their own).

Used by the offline plan and by the tests; both see the same `ProgramRun`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# libyaml's loader where PyYAML has it (the wheels do): the harness reads stack files per run.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PROJECT = "platform"


@dataclass
class StackFile:
    config: dict[str, str]          # "<ns>:<key>" -> value as the engine passes it
    secret_keys: list[str]
    values: dict[str, Any]          # "<ns>:<key>" -> decoded value, secrets masked


@dataclass
class ProgramRun:
    stack: str
    stack_file: StackFile
    registrations: list[Any]
    outputs: dict[str, tuple[Any, bool, bool]]  # name -> (value, is_secret, is_known)
    diagnostics: list[dict[str, str]] = field(default_factory=list)
    stack_urn: str = ""


def placeholder(key: str) -> str:
    return f"offline-placeholder-{key.replace(':', '-')}"


def _encoded(raw: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """Full config keys -> (what the engine passes: objects as JSON, booleans lower case;
    the decoded values, secrets masked; the secret keys). A `secure:` value cannot be
    decrypted here, so it becomes a placeholder marked secret."""
    config: dict[str, str] = {}
    values: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key], values[key] = placeholder(key), "[secret]"
            secret_keys.append(key)
            continue
        config[key] = json.dumps(value) if isinstance(value, (dict, list)) else ("true" if value is True else "false" if value is False else str(value))
        values[key] = value
    return config, values, secret_keys


def read_stack_file(stack: str, root: Path = ROOT, overrides: dict[str, Any] | None = None, *, substitute_secrets: bool = True) -> StackFile:
    """The stack file's config as the engine would hand it to the program.

    `overrides` replaces whole keys ("platform:network" -> {...}); a value of None removes one.
    """
    from infra.config import SECRET_KEYS

    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; stacks: {', '.join(known)}")
    with open(path, encoding="utf-8") as fh:
        raw = (yaml.load(fh, Loader=_YAML_LOADER) or {}).get("config") or {}
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    config, values, secret_keys = _encoded({(key if ":" in key else f"{PROJECT}:{key}"): value for key, value in raw.items()})
    for key in SECRET_KEYS if substitute_secrets else ():
        full = f"{PROJECT}:{key}"
        if full not in config:
            config[full] = placeholder(full)
            secret_keys.append(full)
            values[full] = "[secret]"
    return StackFile(config=config, secret_keys=secret_keys, values=values)


DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


def disabled_default_providers(root: Path, stack_file: StackFile) -> list[Any]:
    """`pulumi:disable-default-providers` as the engine reads it: the stack file's value, else
    the project file's (`config:` in Pulumi.yaml, a `value:` or a bare list); none without either."""
    value = stack_file.values.get(DISABLE_DEFAULT_PROVIDERS)
    if value is None:
        project = root / "Pulumi.yaml"
        if project.exists():
            with open(project, encoding="utf-8") as fh:
                entry = ((yaml.load(fh, Loader=_YAML_LOADER) or {}).get("config") or {}).get(DISABLE_DEFAULT_PROVIDERS)
            value = entry.get("value", entry.get("default")) if isinstance(entry, dict) else entry
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    return list(value) if isinstance(value, list) else []


class _Diagnostics(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"severity": record.levelname.lower(), "message": record.getMessage()})


def _close_loop() -> None:
    """Close the runtime's event loop now, while the interpreter is whole.

    Left to interpreter exit, its socket is collected first and the loop's `__del__` sprays
    "Invalid file descriptor" tracebacks. The next run gets a fresh loop.
    """
    import asyncio

    from pulumi.runtime.sync_await import _sync_await

    loop = asyncio.get_event_loop()
    _sync_await(loop.shutdown_default_executor())
    loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())


_RUNS = [0]


def _settle_heap() -> None:
    """Keep the garbage collector off what outlives a run (the SDKs, earlier plans).

    A run allocates tens of thousands of objects; each full collection would walk the 1,700
    SDK modules and every plan held by the caller, which made a warm run in the suite cost
    about twice its work. Frozen objects are never scanned; a previous run's garbage is
    collected first, so nothing accumulates.
    """
    if _RUNS[0]:
        gc.collect()
    gc.freeze()
    _RUNS[0] += 1


def _no_stack_traces() -> None:
    """The SDK walks the Python stack (traceback.extract_stack, source lines read) at every
    registration, for the engine's source positions; the mocks ignore them, and that walk was
    a tenth of a run. Only the harness's runtime is changed, never `pulumi up`'s."""
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime.proto import source_pb2

    if hasattr(runtime_resource, "_get_stack_trace"):
        runtime_resource._get_stack_trace = source_pb2.StackTrace


def run_program(
    stack: str,
    *,
    root: Path = ROOT,
    overrides: dict[str, Any] | None = None,
    substitute_secrets: bool = True,
    cloudflare_zones: dict[str, str] | None = None,
    preview: bool = True,
    account_id: str | None = None,
    program: Path | None = None,
    project: str = PROJECT,
    stack_file: StackFile | None = None,
    stack_references: dict[str, dict[str, Any]] | None = None,
    secret_values: dict[str, str] | None = None,
) -> ProgramRun:
    """Execute `__main__.py` once under mocks and return everything the engine saw.

    `cloudflare_zones` (zone id -> name) is what the Cloudflare account holds; by default the
    stack file's zone, named as its domain. `preview` True (the default) runs it as
    `pulumi preview` does, which is what an offline plan is; False as `pulumi up`.
    `account_id` is the account the credentials are in (default: the stack's platform:account.id).

    Raises what the program raises (a `ConfigError` for bad input) after the runtime has
    settled, so a caller can assert that nothing was registered; an `EngineError` (the
    engine's message) for what the Pulumi engine itself would refuse (docs/offline-engine.md).

    Another program of the repository (the review program, `program=ROOT / "review"`, its
    `project`) runs the same way, from its directory, with a `stack_file` built by
    `read_project_config`; `stack_references` (fully qualified name -> `reference_of(run)`)
    answer its `pulumi.StackReference`s, `secret_values` (ARN -> SecretString) its
    Secrets Manager reads.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from infra.offline.mocks import ACCOUNT_ID, PlatformMocks, RecordingMonitor

    _settle_heap()
    _no_stack_traces()
    program_dir = program or root
    if stack_file is None:
        stack_file = read_stack_file(stack, root, overrides, substitute_secrets=substitute_secrets)
    region = stack_file.values.get("aws:region") or "us-east-1"
    dns = stack_file.values.get(f"{PROJECT}:dns")
    zones = {dns["zone_id"]: dns["domain"]} if isinstance(dns, dict) and "zone_id" in dns and "domain" in dns else {}
    # The credentials' account is the stack's own (platform:account.id) unless a test says otherwise.
    account = stack_file.values.get(f"{PROJECT}:account")
    if account_id is None:
        account_id = str(account["id"]) if isinstance(account, dict) and "id" in account else ACCOUNT_ID
    mocks = PlatformMocks(region=str(region), account_id=account_id, cloudflare_zones=zones if cloudflare_zones is None else cloudflare_zones)
    mocks.stack_references = dict(stack_references or {})
    mocks.secret_values = dict(secret_values or {})
    monitor = RecordingMonitor(mocks, denied_default_providers=disabled_default_providers(program_dir, stack_file))
    handler = _Diagnostics()
    logger = logging.getLogger(f"infra.offline.{stack}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)

    # A fresh runtime for every run: several stacks may be planned in one process.
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, logger=logger, monitor=monitor)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    runtime_config.set_all_config(stack_file.config, stack_file.secret_keys)

    main = str(program_dir / "__main__.py")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    outputs: dict[str, tuple[Any, bool, bool]] = {}

    async def resolve_exports() -> None:
        exports = pulumi.runtime.get_root_resource().outputs
        for name, value in exports.items():
            out = pulumi.Output.from_input(value)
            outputs[name] = (await out.future(with_unknowns=True), await out.is_secret(), await out.is_known())

    def program() -> Any:
        cwd = os.getcwd()
        os.chdir(program_dir)
        try:
            runpy.run_path(main, run_name="__main__")
        finally:
            os.chdir(cwd)
        return resolve_exports()

    try:
        _sync_await(run_pulumi_func(program))
    except Exception as exc:
        # What the engine refused fails the deployment, whatever the program did with it.
        error = monitor.engine_error or exc
        # Lets a caller prove that bad input registered nothing.
        error.registered = list(monitor.registrations)  # type: ignore[attr-defined]
        if error is exc:
            raise
        raise error from None
    finally:
        _close_loop()
    if monitor.engine_error is not None:
        monitor.engine_error.registered = list(monitor.registrations)  # type: ignore[attr-defined]
        raise monitor.engine_error
    return ProgramRun(
        stack=stack,
        stack_file=stack_file,
        registrations=monitor.registrations,
        outputs=outputs,
        diagnostics=handler.records,
        stack_urn=getattr(monitor, "stack_urn", ""),
    )


# ---------------------------------------------------------------------- other programs


def read_project_config(
    program: Path,
    stack: str,
    overrides: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> StackFile:
    """A program's config as the engine hands it over: the project file's `config:` values
    (`value:`), then its `Pulumi.<stack>.yaml` if there is one, then `overrides` (None removes
    a key); `secrets` (full key -> value) are added as secret config, as `pulumi config set
    --secret` would. No secret is read from a file: a `secure:` value becomes a placeholder."""
    raw: dict[str, Any] = {}
    with open(program / "Pulumi.yaml", encoding="utf-8") as fh:
        for key, entry in ((yaml.load(fh, Loader=_YAML_LOADER) or {}).get("config") or {}).items():
            value = entry.get("value", entry.get("default")) if isinstance(entry, dict) else entry
            if value is not None and key != DISABLE_DEFAULT_PROVIDERS:
                raw[key] = value
    path = program / f"Pulumi.{stack}.yaml"
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            raw.update((yaml.load(fh, Loader=_YAML_LOADER) or {}).get("config") or {})
    for key, value in (overrides or {}).items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    config, values, secret_keys = _encoded(raw)
    for key, value in (secrets or {}).items():
        config[key], values[key] = value, "[secret]"
        secret_keys.append(key)
    return StackFile(config=config, secret_keys=secret_keys, values=values)


def reference_of(run: ProgramRun) -> dict[str, Any]:
    """What a `pulumi.StackReference` to the stack `run` planned reads: its outputs, secret ones named."""
    from infra.offline.plan import UNKNOWN

    outputs = {name: (value if known else UNKNOWN) for name, (value, _, known) in run.outputs.items()}
    return {"outputs": outputs, "secret_names": sorted(name for name, (_, secret, _) in run.outputs.items() if secret)}


def secret_values_of(run: ProgramRun) -> dict[str, str]:
    """What Secrets Manager holds after `run`: each secret's ARN -> its SecretVersion's string."""
    from pulumi.runtime import rpc

    arns = {reg.urn: reg.outputs.get("arn") for reg in run.registrations if reg.type == "aws:secretsmanager/secret:Secret"}
    out: dict[str, str] = {}
    for reg in run.registrations:
        if reg.type != "aws:secretsmanager/secretVersion:SecretVersion":
            continue
        value = reg.inputs.get("secretString")
        if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            value = value.get("value")
        arn = reg.inputs.get("secretId") or next((a for u, a in arns.items() if u in reg.dependencies), None)
        if isinstance(value, str) and isinstance(arn, str):
            out[arn] = value
    return out
