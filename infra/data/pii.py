"""What looks like PII: a column's name, and a value's content (emails, phones, card numbers by Luhn).

Pure functions. The copy (infra/data/copy.py) refuses a column whose rule is `keep` while its
name or its content looks like PII; these are the tests it applies. They are deliberately
simple and err towards stopping the run: a false alarm costs a line in data/masking.yaml, a
miss costs a person's data in staging.
"""

from __future__ import annotations

import re

# Column-name tokens (split on `_` and camelCase) and what they suggest. English and Spanish,
# the seeds' languages. Tokens, not substrings: `filename` and `hostname` are not names.
NAME_TOKENS = {
    "email": "email", "mail": "email", "correo": "email",
    "phone": "phone", "telephone": "phone", "tel": "phone", "mobile": "phone", "cell": "phone", "fax": "phone",
    "telefono": "phone", "movil": "phone",
    "name": "name", "firstname": "name", "lastname": "name", "surname": "name", "fullname": "name",
    "nombre": "name", "apellido": "name", "apellidos": "name", "username": "name",
    "address": "address", "street": "address", "addr": "address", "direccion": "address", "postcode": "address",
    "zip": "address", "zipcode": "address",
    "card": "card number", "pan": "card number", "ccnum": "card number", "iban": "card number",
    "ssn": "national id", "dni": "national id", "nif": "national id", "nie": "national id", "passport": "national id",
    "birth": "birth date", "birthdate": "birth date", "birthday": "birth date", "dob": "birth date",
}  # fmt: skip
# Whole names that do not split into tokens above but are PII all the same.
NAME_SUBSTRINGS = {"email": "email", "phone": "phone"}

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A whole value that is a phone number: digits with at least one of `+`, a space, `.`, `-`,
# `(`: bare digit strings are ids and amounts far more often than phones (a phone column
# of bare digits is caught by its name). Dates and times are excluded by `_DATE`.
PHONE = re.compile(r"\+?[\d().\s-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
# 13 to 19 digits, optionally in groups split by a space or `-` (how cards are written).
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro): a Luhn-valid 16-digit order number that starts with 1, 7, 8 or 9 is not a card.
CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[05689]|6(?:011|2|4[4-9]|5)|50|5[6-9]|6")


def tokens(column: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def name_suggests(column: str) -> str | None:
    """The kind of PII a column's name suggests (`email`, `phone`, `name`, ...), or None."""
    for token in tokens(column):
        if token in NAME_TOKENS:
            return NAME_TOKENS[token]
    lowered = column.lower()
    return next((kind for part, kind in NAME_SUBSTRINGS.items() if part in lowered), None)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def looks_like_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and CARD_PREFIX.match(digits) is not None and luhn_valid(digits)


def looks_like_phone(value: str) -> bool:
    stripped = value.strip()
    if not PHONE.fullmatch(stripped) or _DATE.search(stripped):
        return False
    digits = re.sub(r"\D", "", stripped)
    has_mark = stripped.startswith("+") or any(c in stripped for c in " .-(")
    return 9 <= len(digits) <= 15 and has_mark


def content_suggests(value: str) -> str | None:
    """The kind of PII a value holds (`email`, `card number`, `phone`), or None.

    Emails and card numbers are searched anywhere in the value (free text included); a phone
    only as the whole value.
    """
    if EMAIL.search(value):
        return "email"
    for match in CARD.finditer(value):
        if looks_like_card(re.sub(r"\D", "", match.group())):
            return "card number"
    if looks_like_phone(value):
        return "phone"
    return None
