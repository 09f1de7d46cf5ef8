"""No committed stack file holds a secret in plain text: only `secure:` ciphertext.

Any key named like a credential (password, secret, token, api_key, private_key), at any depth
of any config value, must be `{secure: v1:...}` as written by `pulumi config set --secret`.
Leaving the key out is fine (each user sets their own); a plain value is not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
SECRET_NAME = re.compile(r"password|passwd|secret|token|api[_-]?key|private[_-]?key", re.IGNORECASE)


def _is_ciphertext(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str) and value["secure"].strip() != ""


def plaintext_secrets(config: Any, path: str = "") -> list[str]:
    """The config paths whose key looks like a credential and whose value is not `secure:`."""
    found: list[str] = []
    if isinstance(config, dict):
        if _is_ciphertext(config):
            return found
        for key, value in config.items():
            here = f"{path}.{key}" if path else str(key)
            name = str(key).rsplit(":", 1)[-1]  # "platform:stripe_secret_key" -> "stripe_secret_key"
            if SECRET_NAME.search(name) and not _is_ciphertext(value) and value not in (None, "", [], {}):
                found.append(here)
            else:
                found += plaintext_secrets(value, here)
    elif isinstance(config, list):
        for i, item in enumerate(config):
            found += plaintext_secrets(item, f"{path}[{i}]")
    return found


def stack_file_secrets(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    return plaintext_secrets(document.get("config") or {})


def test_there_are_stack_files():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_committed_stack_file_has_no_plaintext_secret(path: Path):
    assert stack_file_secrets(path) == [], f"{path.name}: set these with `pulumi config set --secret <key> <value>` instead"


def test_a_doctored_stack_file_is_caught(tmp_path: Path):
    doctored = tmp_path / "Pulumi.doctored.yaml"
    doctored.write_text(
        """
config:
  aws:region: us-east-1
  platform:stripe_secret_key: sk_live_not_really_but_plain
  platform:cloudflare_api_token:
    secure: v1:AAAABBBBCCCC
  platform:sendgrid_api_key:
    secure: ""
  platform:database:
    instance_class: db.t3.micro
    master_password: hunter2
  platform:integrations:
    - name: maps
      apiKey: plain-maps-key
    - name: tls
      private_key: |
        -----BEGIN PRIVATE KEY-----
  platform:github_token: 12345
""",
        encoding="utf-8",
    )
    assert stack_file_secrets(doctored) == [
        "platform:stripe_secret_key",
        "platform:sendgrid_api_key",
        "platform:database.master_password",
        "platform:integrations[0].apiKey",
        "platform:integrations[1].private_key",
        "platform:github_token",
    ]


def test_ciphertext_and_unrelated_keys_pass():
    config = {
        "platform:cloudflare_api_token": {"secure": "v1:AAAA"},
        "platform:app": {"jwt_expires_in": "7d", "feature_flags": {"NEW_CHECKOUT_FLOW": True}},
        "platform:database": {"admin_username": "app_admin"},
    }
    assert plaintext_secrets(config) == []
