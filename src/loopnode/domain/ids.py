"""Identifier patterns and minting (SPEC-DIGEST §1.0, §7 items 1, 2 and 30; DECISIONS 2 and 18).

Patterns are the schema patterns, anchored with `\\Z` so that a trailing newline never passes
(DECISIONS 3). Minting is deterministic given its inputs: randomness is injected, either as the
hex string itself or as a `Callable[[int], str]` that, like `secrets.token_hex`, takes a number
of random bytes and returns their hex. Uniqueness is the caller's job (a unique index and a retry
on collision); `RANDOM_BYTES` makes collisions rare, not impossible.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Final

from loopnode.domain.errors import InvalidRequest

__all__ = [
    "ENTITY_ID",
    "LOCAL_PRODUCT_ID",
    "MATCH_PREFIX",
    "MATERIAL_ID",
    "NODE_ID",
    "OFFER_PREFIX",
    "PRODUCT_ID",
    "RANDOM_BYTES",
    "TRANSACTION_ID",
    "TRANSFER_PREFIX",
    "RandomSource",
    "category_segment",
    "is_entity_id",
    "is_local_product_id",
    "is_material_id",
    "is_node_id",
    "is_product_id",
    "is_transaction_id",
    "mint_entity_id",
    "mint_material_id",
    "mint_product_id",
    "mint_transaction_id",
]

MATERIAL_ID: Final = re.compile(r"^MAT-[A-Z]{2}-[A-Z]{3}-[0-9]{4}-[A-Z]+-[A-Z0-9]{6,}\Z")
# The product schema checks only this; §4.5.3 asks for the structured form below (DECISIONS 2).
PRODUCT_ID: Final = re.compile(r"^PRD-[A-Z0-9-]{8,}\Z")
LOCAL_PRODUCT_ID: Final = re.compile(r"^PRD-[A-Z]{2}-[A-Z]{3}-[0-9]{4}-[A-Z]+-[A-Z0-9]{6,}\Z")
# Offer, Match and Transfer ids: no prefix is required by the schema.
ENTITY_ID: Final = re.compile(r"^[A-Z0-9-]{8,}\Z")
TRANSACTION_ID: Final = re.compile(r"^TXN-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{3,}\Z")
# Satisfies both the core pattern (`*.loop`) and core-dp's `^[a-z0-9][a-z0-9.-]{2,120}$`.
NODE_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,115}\.loop\Z")

OFFER_PREFIX: Final = "OFR"
MATCH_PREFIX: Final = "MCH"
TRANSFER_PREFIX: Final = "TRF"

# 5 bytes = 10 hex characters: the schema wants at least 6; 2^40 makes a collision within one
# (country, city, year, category) bucket unlikely even at a million records.
RANDOM_BYTES: Final = 5

RandomSource = str | Callable[[int], str]

# Inputs are checked before upper-casing: str.upper() maps some non-ASCII letters to ASCII
# ("ſ" → "S", "ﬀ" → "FF"), which must not sneak into an id.
_COUNTRY = re.compile(r"^[A-Za-z]{2}\Z")
_CITY = re.compile(r"^[A-Za-z]{3}\Z")
_SEGMENT = re.compile(r"^[A-Za-z]+\Z")
_HEX = re.compile(r"^[0-9A-Fa-f]{6,}\Z")
_PREFIX = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*\Z")


def is_material_id(value: str) -> bool:
    return MATERIAL_ID.match(value) is not None


def is_product_id(value: str) -> bool:
    """True for any id the ProductDNA schema accepts (relayed records need no more)."""
    return PRODUCT_ID.match(value) is not None


def is_local_product_id(value: str) -> bool:
    """True for the structured §4.5.3 form required of locally registered products."""
    return LOCAL_PRODUCT_ID.match(value) is not None


def is_entity_id(value: str) -> bool:
    return ENTITY_ID.match(value) is not None


def is_transaction_id(value: str) -> bool:
    return TRANSACTION_ID.match(value) is not None


def is_node_id(value: str) -> bool:
    return NODE_ID.match(value) is not None


def category_segment(category: str) -> str:
    """The id's category segment: the category's first hyphen-separated part, upper-cased.

    `plastic-pet` → `PLASTIC`, `ewaste-batteries` → `EWASTE`, `cardboard` → `CARDBOARD`.
    """
    segment = category.split("-", 1)[0]
    if not _SEGMENT.match(segment):
        raise InvalidRequest(f"category {category[:80]!r} does not start with ASCII letters")
    return segment.upper()


def mint_material_id(
    country: str, city_code: str, year: int, category: str, random_hex: RandomSource
) -> str:
    """`MAT-{CC}-{CITY}-{YYYY}-{CATSEG}-{HEX}` (DECISIONS 2)."""
    return _mint_passport_id("MAT", country, city_code, year, category, random_hex)


def mint_product_id(
    country: str, city_code: str, year: int, category: str, random_hex: RandomSource
) -> str:
    """`PRD-{CC}-{CITY}-{YYYY}-{CATSEG}-{HEX}`, the structured §4.5.3 form (DECISIONS 2)."""
    return _mint_passport_id("PRD", country, city_code, year, category, random_hex)


def mint_entity_id(prefix: str, random: RandomSource) -> str:
    """`{PREFIX}-{HEX}` for offers, matches and transfers (`OFR-…`, `MCH-…`, `TRF-…`)."""
    if not _PREFIX.match(prefix):
        raise InvalidRequest(f"id prefix {prefix[:40]!r} must be uppercase letters and digits")
    return f"{prefix}-{_random_hex(random)}"


def mint_transaction_id(date: datetime.date, counter: int) -> str:
    """`TXN-YYYY-MM-DD-NNN`: the day's running counter, at least three digits.

    A `datetime` is accepted too; its own calendar date is used, so pass it in the zone the
    counter is kept in (UTC).
    """
    if isinstance(counter, bool) or counter < 1:
        raise InvalidRequest(f"transaction counter must be a positive integer, got {counter!r}")
    return f"TXN-{date.year:04d}-{date.month:02d}-{date.day:02d}-{counter:03d}"


def _mint_passport_id(
    kind: str, country: str, city_code: str, year: int, category: str, random: RandomSource
) -> str:
    if not _COUNTRY.match(country):
        raise InvalidRequest(f"country {country[:10]!r} must be two ASCII letters (ISO 3166-1)")
    if not _CITY.match(city_code):
        raise InvalidRequest(f"city code {city_code[:10]!r} must be three ASCII letters")
    if isinstance(year, bool) or not 0 <= year <= 9999:
        raise InvalidRequest(f"year {year!r} must have four digits")
    segment = category_segment(category)
    unique = _random_hex(random)
    return f"{kind}-{country.upper()}-{city_code.upper()}-{year:04d}-{segment}-{unique}"


def _random_hex(random: RandomSource) -> str:
    raw = random if isinstance(random, str) else random(RANDOM_BYTES)
    if not _HEX.match(raw):
        raise InvalidRequest("the random part of an id must be at least 6 hex characters")
    return raw.upper()
