"""The masking rules (data/masking.yaml) and the masker that applies them, deterministically.

The rules file maps every column of the copied schemas, `schema.table.column`, to one rule:

| rule | what the copy writes |
|---|---|
| `email` | a fake address `<user>.<tag>@example.{com,net,org}` (RFC 2606 domains: nothing mails a person) |
| `phone`, `name`, `address` | a fake phone number, full name, postal address (Faker, the file's `locale`) |
| `text` | fake sentences of about the original's length (free text may hold anything) |
| `card_number` | a fake, Luhn-valid card number |
| `hash` | a keyed hash for identifiers: hex for text, a UUID for uuid, a number for integers |
| `null` | NULL (the column must be nullable) |
| `keep` | the value as it is (refused where the name or content looks like PII, infra/data/pii.py) |

Determinism: each value seeds Faker with an HMAC-SHA-256 of the rule and the value under the
masking key, so the same input always gives the same output, in every table (a user's email
in `users` and in `orders` stay equal, joins hold), and without the key nothing maps back
(and nobody can run a dictionary of known emails through it). Emails are compared in lower
case. Faker is re-seeded per value; the output depends on Faker's version (pinned).

Bad input stops with one line naming the key and what is allowed (`RulesError`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

RULES = ("email", "phone", "name", "address", "text", "card_number", "hash", "null", "keep")
MASKING_RULES = tuple(r for r in RULES if r != "keep")
Rule = Literal["email", "phone", "name", "address", "text", "card_number", "hash", "null", "keep"]

# The column types each rule may write into (PostgreSQL's type names, pg_type.typname).
TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext"})
INTEGER_TYPES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
ALLOWED_TYPES: dict[str, frozenset[str] | None] = {
    **{rule: TEXT_TYPES for rule in ("email", "phone", "name", "address", "text", "card_number")},
    "hash": TEXT_TYPES | {"uuid", *INTEGER_TYPES},
    "null": None,  # any type
    "keep": None,
}

MIN_KEY_BYTES = 32
# Names as the catalog spells them, case and all: Prisma (the seeds' ORM) makes "User" and
# "onboardingCompleted".
_NAME = r"[A-Za-z_][A-Za-z0-9_$]*"
COLUMN_KEY = re.compile(rf"^{_NAME}\.{_NAME}\.{_NAME}$")


class RulesError(ValueError):
    """One line: the key, what is wrong, what is allowed."""


class ColumnRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Rule
    # For `keep` on a column whose NAME looks like PII (a product's `name`): why it is not.
    # It silences the name test only; the content test still runs on every value.
    reason: str | None = Field(None, min_length=10)

    @model_validator(mode="after")
    def _reason_for_keep(self) -> "ColumnRule":
        if self.reason is not None and self.rule != "keep":
            raise ValueError(f"a reason is for keep only (why a PII-looking name is not PII); allowed: rule {self.rule} without a reason")
        return self


class MaskingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    locale: str = "es_ES"
    schemas: tuple[str, ...] = Field(("app",), min_length=1)
    columns: dict[str, ColumnRule]

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `app.users.email: email` is short for `{rule: email}`.
        if isinstance(value, dict):
            return {key: {"rule": rule} if isinstance(rule, str) else rule for key, rule in value.items()}
        return value

    @field_validator("columns")
    @classmethod
    def _keys(cls, value: dict[str, ColumnRule]) -> dict[str, ColumnRule]:
        for key in value:
            if not COLUMN_KEY.match(key):
                raise ValueError(f"{key!r} is not schema.table.column (each name as the catalog spells it)")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from faker.config import AVAILABLE_LOCALES

        if value not in AVAILABLE_LOCALES:
            raise ValueError(f"{value!r} is not a Faker locale; allowed: e.g. es_ES, en_US")
        return value

    def rule_of(self, schema: str, table: str, column: str) -> ColumnRule | None:
        return self.columns.get(f"{schema}.{table}.{column}")


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if part != "rule" or first["type"] != "literal_error")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "literal_error":
        message = f"{first['input']!r} is not a rule; allowed: {', '.join(RULES)}"
    elif first["type"] == "extra_forbidden":
        message = "is not a key; allowed: " + ", ".join(MaskingRules.model_fields if len(first["loc"]) == 1 else ColumnRule.model_fields)
    elif first["type"] == "missing":
        message = "is missing"
    return f"{source}: {loc}: {message}"


def parse(raw: Any, source: str = "masking rules") -> MaskingRules:
    if not isinstance(raw, dict):
        raise RulesError(f"{source}: not a mapping; allowed: locale, schemas, columns")
    try:
        return MaskingRules.model_validate(raw)
    except ValidationError as error:
        raise RulesError(_one_line(error, source)) from None


def load(path: str | Path) -> MaskingRules:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RulesError(f"{path}: cannot be read as YAML: {str(error).splitlines()[0]}") from None
    return parse(raw, str(path))


def key_from(value: str | None, variable: str) -> bytes:
    """The masking key from an environment variable's value: at least 32 bytes."""
    if not value:
        raise RulesError(f"{variable}: not set; allowed: a random key of at least {MIN_KEY_BYTES} bytes (openssl rand -hex 32), from the masking key's secret")
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise RulesError(f"{variable}: {len(key)} bytes; allowed: at least {MIN_KEY_BYTES} bytes (openssl rand -hex 32)")
    return key


class Masker:
    """Masks one value at a time: `mask(rule, value, typname, max_length)`; text in, text out.

    Values are PostgreSQL's text form (what COPY carries); None is NULL and stays NULL.
    """

    def __init__(self, key: bytes, locale: str = "es_ES"):
        from faker import Faker

        if len(key) < MIN_KEY_BYTES:
            raise RulesError(f"masking key: {len(key)} bytes; allowed: at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._faker = Faker(locale)
        # Many values repeat (a user's email in every order): mask each once.
        self._cached = functools.lru_cache(maxsize=200_000)(self._mask)

    def digest(self, rule: str, value: str) -> bytes:
        return hmac.new(self._key, f"{rule}\0{value}".encode(), hashlib.sha256).digest()

    def mask(self, rule: str, value: str | None, typname: str = "text", max_length: int | None = None) -> str | None:
        if value is None or rule == "keep":
            return value
        if rule == "null":
            return None
        masked = self._cached(rule, value.strip().lower() if rule == "email" else value, typname)
        return masked[:max_length] if max_length else masked

    def _mask(self, rule: str, value: str, typname: str) -> str:
        digest = self.digest(rule, value)
        if rule == "hash":
            if typname == "uuid":
                return str(uuid.UUID(bytes=digest[:16], version=4))
            if typname in INTEGER_TYPES:
                return str(int.from_bytes(digest[:8], "big") % INTEGER_TYPES[typname])
            return digest.hex()[:32]
        fake = self._faker
        fake.seed_instance(int.from_bytes(digest[:8], "big"))
        if rule == "email":
            # The tag (48 bits of the HMAC) keeps distinct inputs distinct: a UNIQUE column
            # of a million emails collides with odds of about 1 in 500, against certainty
            # from Faker's user names alone.
            return f"{fake.user_name()}.{digest[8:14].hex()}@{fake.safe_domain_name()}"
        if rule == "phone":
            return fake.phone_number()
        if rule == "name":
            return fake.name()
        if rule == "address":
            return fake.address().replace("\n", ", ")
        if rule == "card_number":
            return fake.credit_card_number()
        if rule == "text":
            return fake.text(max_nb_chars=max(5, min(len(value), 500)))
        raise RulesError(f"rule {rule!r}: not a rule; allowed: {', '.join(RULES)}")
