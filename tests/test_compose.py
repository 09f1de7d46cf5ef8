"""The local stack (compose.yaml, local/initdb/10-seed.sql): in step with its generator, valid Compose.

scripts/compose.py regenerates both in memory here; a difference means someone edited the
files or changed what they come from (dev's config, the engine versions, runtime_config,
the fixtures) without `.venv/bin/python scripts/compose.py`. compose.yaml is validated with
jsonschema against the Compose specification's schema, vendored in scripts/compose_spec/
(SOURCES.md there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import compose as generator  # noqa: E402

from infra import runtime_config  # noqa: E402
from infra.components import cache, database  # noqa: E402

SCHEMA = json.loads((ROOT / "scripts" / "compose_spec" / "compose-spec.json").read_text(encoding="utf-8"))


def committed() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path, expected",
    [(ROOT / "compose.yaml", generator.compose_text), (ROOT / "local" / "initdb" / "10-seed.sql", generator.seed_text)],
    ids=["compose.yaml", "10-seed.sql"],
)
def test_the_committed_file_is_what_the_generator_writes(path, expected):
    assert path.read_text(encoding="utf-8") == expected(), f"{path.relative_to(ROOT)} is stale: run .venv/bin/python scripts/compose.py"


def test_compose_yaml_is_valid_against_the_compose_specification():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(committed())]
    assert errors == []


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"services": {"postgres": {"image": "postgres:17", "ports": "5432"}}}, "services.postgres.ports: '5432' is not of type 'array'"),
        ({"services": {"postgres": {"image": "postgres:17", "restart_policy": "always"}}}, "services.postgres: 'restart_policy' does not match any of the regexes: '^x-'"),
    ],
)
def test_the_schema_refuses_what_compose_refuses(broken, message):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(broken)]
    assert errors == [message]


@pytest.mark.parametrize(
    "service, image",
    [("postgres", f"postgres:{database.ENGINE_VERSION.split('.')[0]}-alpine"), ("redis", f"redis:{cache.ENGINE_VERSION.split('.')[0]}-alpine")],
)
def test_the_images_are_the_managed_services_majors(service, image):
    assert committed()["services"][service]["image"] == image
    assert image in ("postgres:17-alpine", "redis:7-alpine")  # RDS 17, ElastiCache Redis OSS 7.1


def test_the_app_gets_devs_app_config_and_every_secret_key_with_local_values():
    cfg = generator.dev_config()
    environment = committed()["services"]["app"]["environment"]
    assert {k: environment[k] for k in runtime_config.app_config(cfg.dns, cfg.app)} == runtime_config.app_config(cfg.dns, cfg.app)
    assert sorted(set(environment) - set(runtime_config.app_config(cfg.dns, cfg.app))) == sorted(runtime_config.SECRET_KEYS)
    assert environment["STRIPE_SECRET_KEY"] == runtime_config.MOCK_STRIPE_SECRET_KEY
    assert all(generator.LOCAL_PASSWORD in environment[k] for k in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "JWT_REFRESH_SECRET"))


def test_services_listen_on_localhost_only_and_the_seed_runs_on_first_start():
    services = committed()["services"]
    assert {name: s["ports"] for name, s in services.items()} == {
        "postgres": ["127.0.0.1:5432:5432"], "redis": ["127.0.0.1:6379:6379"], "app": ["127.0.0.1:3000:3000"]
    }  # fmt: skip
    assert "./local/initdb:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
