"""Personal-data screening for LOOP entities (spec §3.5 L222, SPEC-DIGEST §3.11, DECISIONS 5).

LOOP payloads MUST NOT carry personal data. Node ids, city names and organisation identifiers are
fine; e-mail addresses, phone numbers and names are not. `find_personal_data` walks a payload and
reports, with the JSON pointer of the offending key or value:

- a `contact` key anywhere (the MaterialDNA/ProductDNA schemas forbid it; we forbid it everywhere
  in the screened entities), and keys that name personal data (`email`, `phone`, `first_name`,
  `contact_person`, `date_of_birth`, `home_address`, …) in any case and with `-`, `_`, space or
  camelCase word breaks. The subtree under such a key is not scanned again: it goes as a whole.
- string values (and keys) containing an e-mail address. Addresses under the `.loop` node suffix are
  LoopCoin account ids (`user:u-7f3a@munich.loop`), pseudonymous by DECISIONS 5 / [31], not e-mail.
- string values containing a phone number: the international form (`+49 89 1234 5678`, `+1 (555)
  123-4567`) or a national number with a trunk prefix and separators (`089 1234 5678`,
  `(089) 123-45678`, `0171/1234567`), or the North-American `555-123-4567`.

The phone rules are deliberately narrow, because LOOP payloads are full of digit runs that are not
phone numbers: EWC codes (`15 01 02`), HS/CN/TARIC and PRODCOM codes, GTINs, CAS numbers, dates and
times, ISO durations, ids such as `TXN-2025-05-27-001`, URLs, decimals, coordinates and postcodes.
A national number therefore needs a leading `0` (or a parenthesised area code), at least one
separator, 9–15 digits, and must stand alone (not glued to the letters, hyphens, slashes, dots or
`@` of an id, URL, account or number); shapes of customs codes, EWC code lists, CAS numbers, ZIP+4
codes, zero-padded number lists and dates are excluded. Unseparated digit runs are never flagged:
they are indistinguishable from GTINs and customs codes. Codes of different kinds run together
with spaces or slashes (`030389 / 15 01 02`) can still look like a number; lists separated by
commas or semicolons are safe. Names in free text cannot be detected reliably; operators must not
enter them (the docs say so).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Final

from loopnode.domain.errors import Issue

__all__ = ["find_personal_data"]

_RULE = "personal data is not allowed in LOOP payloads (spec §3.5)"

# Compact key (lower case, word breaks removed) -> what it names. Bare words with innocent
# meanings in LOOP's domain are left out on purpose: a battery `cell`, a `mobile` crusher.
_NAMED_KEYS: Final[Mapping[str, str]] = {
    **dict.fromkeys(["email", "emailaddress", "emails", "mail"], "an e-mail address"),
    **dict.fromkeys(
        [
            "phone", "phonenumber", "phones", "telephone", "telephonenumber", "tel", "telno",
            "mobilenumber", "mobilephone", "cellphone", "fax", "faxnumber",
        ],
        "a phone number",
    ),
    **dict.fromkeys(
        [
            "firstname", "lastname", "fullname", "givenname", "familyname", "surname",
            "middlename", "maidenname", "forename", "personname", "nickname",
        ],
        "a person's name",
    ),
    **dict.fromkeys(["person", "contactperson"], "a person"),
    **dict.fromkeys(
        ["birthdate", "dateofbirth", "dob", "birthday", "placeofbirth", "birthplace"],
        "a date or place of birth",
    ),
    **dict.fromkeys(
        ["homeaddress", "privateaddress", "personaladdress", "residentialaddress"],
        "a home address",
    ),
    **dict.fromkeys(
        ["nationalid", "socialsecuritynumber", "ssn", "idcardnumber", "taxpayerid"],
        "a personal identification number",
    ),
}  # fmt: skip
# A compound key whose last one, two or three words form one of these names personal data too:
# `owner_email`, `driverPhone`, `buyer_last_name`, `holder-date-of-birth`, `responsible_person`.
# Words, not characters: `smartphone` or `microphone` are not phone numbers.
_NAMED_ENDINGS: Final[Mapping[str, str]] = {
    # Not the short or plural ones: `ewaste-phones` is a LoopSignal category key.
    **{
        k: v
        for k, v in _NAMED_KEYS.items()
        if k not in {"mail", "tel", "dob", "ssn", "phones", "emails"}
    },
    "person": "a person",
}
_CAMEL_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# An e-mail address: local part, @, dot-separated domain labels, alphabetic TLD. The lookbehind
# keeps the match from starting inside a run of local-part characters, which keeps the search
# linear on long strings without an @.
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-]+@"
    r"(?P<domain>(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?P<tld>[^\W\d_]{2,63}))"
    r"(?![\w\-])"
)
_NODE_SUFFIX = "loop"

_SEP = r"[ \t./\-]"
# Must not be glued to a word, an id (hyphen), a path (slash), a sign, a domain (@), or continue
# a number (`4 012345 678901` is a GTIN-13 as printed under its barcode, `1.5` a decimal).
_STANDALONE_BEFORE = r"(?<![\w\-/+.@])(?<!\d[ .])"
# Not followed by a word character, a hyphen, slash or @ (the local part of an account id), a
# time or decimal continuation, or a dot and a letter (a domain such as `000-100000.loop`).
_STANDALONE_AFTER = r"(?![\w\-/@]|[.,:]\d|\.[^\W\d_])"
_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+[1-9]\d*"
    rf"(?:{_SEP}{{1,3}}\d+|{_SEP}{{0,3}}\(\d{{1,5}}\){_SEP}{{0,3}}\d+)*" + _STANDALONE_AFTER
)
_NATIONAL = re.compile(
    _STANDALONE_BEFORE
    + rf"(?:\((?:0\d{{1,5}}|\d{{3}})\){_SEP}{{0,3}}\d+|0\d{{1,5}}{_SEP}{{1,3}}\d+)"
    + rf"(?:{_SEP}{{1,3}}\d+)*"
    + _STANDALONE_AFTER
)
_NORTH_AMERICAN = re.compile(
    _STANDALONE_BEFORE + r"[2-9]\d{2}(?P<sep>[.\-])\d{3}(?P=sep)\d{4}" + _STANDALONE_AFTER
)
# Digit-group shapes that look like phone numbers but are codes.
_CUSTOMS_CODE = re.compile(r"^\d{4}(?:[ .]\d{2}){1,3}\Z")  # HS/CN/TARIC: 3915 10 80 00
# EWC codes, one or several (`01 01 01 / 02 01 03`): pairs of digits, a multiple of three.
_EWC_LIST = re.compile(r"^\d{2}(?:[ \t./\-]{1,3}\d{2}){2}(?:(?:[ \t./\-]{1,3}\d{2}){3})*\Z")
_ZIP_PLUS_4 = re.compile(r"^\d{5}-\d{4}\Z")
# Subscriber numbers never start with 0 after an area code, zero-padded lists do: 0042 0043 0044.
_PADDED_LIST = re.compile(r"^\(?0\d{1,5}\)?[ \t./\-]{1,3}0\d{2}")
_CAS_NUMBER = re.compile(r"(?<!\d)\d{2,7}-\d{2}-\d(?!\d)")
_DATE = re.compile(r"(?<!\d)(\d{1,4})[./\-](\d{1,2})[./\-](\d{1,4})(?!\d)")
# Every phone rule needs at least eight digits (international 8–16, national 9–15, North American
# 10) and the separators and signs they allow are not digits, so a text with fewer `\d` cannot
# match. `\D` and `\d` are disjoint, so this is a single linear pass.
_ENOUGH_DIGITS = re.compile(r"(?:\D*\d){8}")
# URLs and URNs are skipped by the phone rules (their paths are full of digit runs). The
# lookbehind and the bounded scheme keep this linear on long dotted strings.
_URL = re.compile(r"(?<![A-Za-z0-9+.\-])(?:[A-Za-z][A-Za-z0-9+.\-]{0,30}://|urn:|www\.)\S*")


def find_personal_data(payload: object) -> list[Issue]:
    """Every place in `payload` (nested dicts and lists) that holds personal data.

    Issues point at the offending key (for keys that name personal data) or value, and say which
    kind of personal data was found; the matched text itself is never echoed.
    """
    issues: list[Issue] = []
    # An explicit stack rather than recursion: nesting depth is the sender's choice.
    stack: list[tuple[str, object]] = [("", payload)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, str):
            found = _text_finding(node)
            if found is not None:
                issues.append(Issue(pointer, f"the value contains {found}; {_RULE}"))
        elif isinstance(node, Mapping):
            stack += reversed(list(_scan_members(node, pointer, issues)))
        elif isinstance(node, list | tuple):
            stack += reversed([(f"{pointer}/{i}", item) for i, item in enumerate(node)])
    return issues


def _scan_members(
    node: Mapping[object, object], pointer: str, issues: list[Issue]
) -> Iterator[tuple[str, object]]:
    """Checks each key; yields the members whose values still need scanning."""
    for key, value in node.items():
        name = str(key)
        child = f"{pointer}/{_escape(name)}"
        named, found = _key_verdict(name)
        if named:
            issues.append(Issue(child, f"the key {name[:60]!r} holds {named}; {_RULE}"))
            continue
        if found is not None:
            issues.append(Issue(child, f"the key contains {found}; {_RULE}"))
        yield child, value


# Keys repeat across payloads (every MaterialDNA has the same few dozen), so their verdict is
# cached; long keys are not, so a sender cannot fill the cache with large strings.
_CACHED_KEY_LENGTH = 64


def _key_verdict(key: str) -> tuple[str | None, str | None]:
    """(what the key's name says it holds, what personal data its text contains)."""
    if len(key) <= _CACHED_KEY_LENGTH:
        return _cached_key_verdict(key)
    return _key_names_personal_data(key), _text_finding(key)


@functools.lru_cache(maxsize=4096)
def _cached_key_verdict(key: str) -> tuple[str | None, str | None]:
    return _key_names_personal_data(key), _text_finding(key)


def _text_finding(text: str) -> str | None:
    """ "an e-mail address", "a phone number" or None. Pre-filtered: the e-mail rule needs an
    `@`, every phone rule at least eight digits (`_ENOUGH_DIGITS`, one C-level pass), so most
    strings never reach the patterns."""
    if "@" in text and _contains_email(text):
        return "an e-mail address"
    if _ENOUGH_DIGITS.match(text) and _contains_phone_number(text):
        return "a phone number"
    return None


def _key_names_personal_data(key: str) -> str | None:
    words = [w for w in _NON_ALNUM.split(_CAMEL_BREAK.sub("_", key).lower()) if w]
    if not words:
        return None
    if words[0] in ("contact", "contacts"):
        return "contact details"
    named = _NAMED_KEYS.get("".join(words))
    for size in (1, 2, 3):
        if named is None and len(words) > size:
            named = _NAMED_ENDINGS.get("".join(words[-size:]))
    return named


def _contains_email(text: str) -> bool:
    if "@" not in text:
        return False
    return any(m["tld"].lower() != _NODE_SUFFIX for m in _EMAIL.finditer(text))


def _contains_phone_number(text: str) -> bool:
    text = _URL.sub(" ", text)
    for match in _INTERNATIONAL.finditer(text):
        if 8 <= _digit_count(match[0]) <= 16:
            return True
    if any(_is_national_number(m[0]) for m in _NATIONAL.finditer(text)):
        return True
    return _NORTH_AMERICAN.search(text) is not None


def _is_national_number(candidate: str) -> bool:
    if not 9 <= _digit_count(candidate) <= 15:
        return False
    shapes = (_CUSTOMS_CODE, _EWC_LIST, _ZIP_PLUS_4, _PADDED_LIST)
    if any(shape.match(candidate) for shape in shapes):
        return False
    return not (_CAS_NUMBER.search(candidate) or _contains_date(candidate))


def _contains_date(candidate: str) -> bool:
    for match in _DATE.finditer(candidate):
        first, second, third = (int(part) for part in match.groups())
        if len(match[1]) == 4 and 1 <= second <= 12 and 1 <= third <= 31:
            return True  # 2025-06-03
        if len(match[3]) >= 2 and _plausible_day_month(first, second):
            return True  # 03.06.2025, 06/03/25
    return False


def _plausible_day_month(first: int, second: int) -> bool:
    return (1 <= first <= 31 and 1 <= second <= 12) or (1 <= first <= 12 and 1 <= second <= 31)


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _escape(token: str) -> str:
    if "~" not in token and "/" not in token:
        return token
    return token.replace("~", "~0").replace("/", "~1")
