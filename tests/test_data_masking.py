"""The masking rules (infra/data/masking.py, data/masking.yaml) and the PII tests (infra/data/pii.py): pure, no database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.data import masking, pii
from infra.data.masking import Masker, RulesError

ROOT = Path(__file__).resolve().parents[1]
KEY = b"0123456789abcdef0123456789abcdef"


def test_the_committed_rules_load():
    rules = masking.load(ROOT / "data" / "masking.yaml")
    assert rules.schemas == ("app",)
    assert rules.columns["app.users.email"].rule == "email"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"columns": {"app.users.email": "emial"}}, "rules: columns.app.users.email: 'emial' is not a rule; allowed: email, phone, name, address, text, card_number, hash, null, keep"),
        ({"columns": {"users.email": "email"}}, "rules: columns: 'users.email' is not schema.table.column (each name as the catalog spells it)"),
        ({"columns": {"app.users.email": {"rule": "keep", "why": "x"}}}, "rules: columns.app.users.email.why: is not a key; allowed: rule, reason"),
        (
            {"columns": {"app.users.email": {"rule": "email", "reason": "it is fine, really"}}},
            "rules: columns.app.users.email: a reason is for keep only (why a PII-looking name is not PII); allowed: rule email without a reason",
        ),
        ({"columns": {"app.users.email": {"rule": "keep", "reason": "short"}}}, "rules: columns.app.users.email.reason: String should have at least 10 characters"),
        ({"columns": {}, "schema": ["app"]}, "rules: schema: is not a key; allowed: locale, schemas, columns"),
        ({"locale": "xx_YY", "columns": {}}, "rules: locale: 'xx_YY' is not a Faker locale; allowed: e.g. es_ES, en_US"),
        ({"schemas": ["app"]}, "rules: columns: is missing"),
        ([], "rules: not a mapping; allowed: locale, schemas, columns"),
    ],
)
def test_bad_rules_stop_with_one_line(raw, message):
    with pytest.raises(RulesError) as error:
        masking.parse(raw, "rules")
    assert str(error.value) == message


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "DATA_MASKING_KEY: not set; allowed: a random key of at least 32 bytes (openssl rand -hex 32), from the masking key's secret"),
        ("short", "DATA_MASKING_KEY: 5 bytes; allowed: at least 32 bytes (openssl rand -hex 32)"),
    ],
)
def test_the_key_must_be_long(value, message):
    with pytest.raises(RulesError) as error:
        masking.key_from(value, "DATA_MASKING_KEY")
    assert str(error.value) == message


@pytest.mark.parametrize(
    "rule, value, typname, shape",
    [
        ("email", "Maria.Garcia@gmail.com", "text", r"[a-z0-9._]+\.[0-9a-f]{12}@example\.(com|net|org)"),
        ("hash", "cus_9Xa2", "text", r"[0-9a-f]{32}"),
        ("hash", "0b8e4ed1-8a36-4c35-9a8f-6f1f1c3d2a10", "uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
        ("hash", "123456", "int4", r"\d{1,10}"),
        ("card_number", "4111 1111 1111 1111", "varchar", r"\d{12,19}"),
        ("name", "Zebulon Quackenbush", "text", r"\S+( \S+)+"),
        ("address", "Calle Mayor 1\n28013 Madrid", "text", r"[^\n]+"),
    ],
)
def test_each_rule_writes_a_realistic_value_of_the_columns_type(rule, value, typname, shape):
    masked = Masker(KEY).mask(rule, value, typname)
    assert re.fullmatch(shape, masked), masked
    assert masked != value
    assert Masker(KEY).mask(rule, value, typname) == masked  # a new masker, the same output
    assert Masker(b"another key that is long enough!").mask(rule, value, typname) != masked


@pytest.mark.parametrize(
    "rule, value, expected",
    [("keep", "as is", "as is"), ("null", "anything", None), ("email", None, None), ("name", None, None)],
)
def test_keep_null_and_sql_null(rule, value, expected):
    assert Masker(KEY).mask(rule, value) == expected


def test_masked_cards_pass_luhn_and_values_fit_the_column():
    masker = Masker(KEY)
    assert pii.luhn_valid(masker.mask("card_number", "4111111111111111"))
    assert len(masker.mask("address", "Calle Mayor 1", "varchar", 12)) == 12
    assert int(masker.mask("hash", "7", "int2")) < 2**15


@pytest.mark.parametrize(
    "column, kind",
    [
        ("email", "email"), ("user_email", "email"), ("contactEmail", "email"), ("correo", "email"),
        ("phone", "phone"), ("mobile_number", "phone"), ("telefono", "phone"),
        ("first_name", "name"), ("lastName", "name"), ("username", "name"), ("nombre", "name"),
        ("street_address", "address"), ("zip", "address"),
        ("card_number", "card number"), ("iban", "card number"),
        ("dni", "national id"), ("date_of_birth", "birth date"),
        ("filename", None), ("hostname", None), ("title", None), ("amount", None), ("created_at", None),
    ],
)  # fmt: skip
def test_names_that_suggest_pii(column, kind):
    assert pii.name_suggests(column) == kind


@pytest.mark.parametrize(
    "value, kind",
    [
        ("write to maria.garcia@gmail.com today", "email"),
        ("4111 1111 1111 1111", "card number"),
        ("paid with 5555-5555-5555-4444 yesterday", "card number"),
        ("378282246310005", "card number"),
        ("+34 612 345 678", "phone"),
        ("(415) 555-2671", "phone"),
        ("612.345.678", "phone"),
        ("4111 1111 1111 1112", None),  # Luhn fails
        ("1234567812345670", None),  # Luhn passes, no card network starts with 1
        ("612345678", None),  # bare digits: an id more often than a phone
        ("2025-10-20 10:00:00", None),
        ("20/10/2025", None),
        ("ORD-1-2", None),
        ("Reunión de desarrollo", None),
    ],
)
def test_content_that_looks_like_pii(value, kind):
    assert pii.content_suggests(value) == kind
