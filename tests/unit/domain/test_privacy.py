"""Personal-data screening (DECISIONS 5): what is flagged, and the codes that must never be."""

from __future__ import annotations

import json
import string
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain import privacy
from loopnode.domain.privacy import find_personal_data
from tests.reference import reference_dir, require_reference


def _require_reference() -> Path:
    return require_reference()


def _flagged(text: str) -> bool:
    return bool(find_personal_data({"notes": text}))


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "contact", "Contact", "CONTACT", "contact_person", "contactPerson", "contact-email",
        "email", "e_mail", "E-Mail", "eMail", "email_address", "EmailAddress", "owner_email",
        "phone", "Phone", "phone_number", "phoneNumber", "telephone", "tel", "mobile_number",
        "mobilePhone", "fax", "driver_phone",
        "first_name", "firstName", "First-Name", "last_name", "LASTNAME", "full_name", "surname",
        "given_name", "buyer_last_name",
        "person", "person_name", "responsible_person",
        "birth_date", "date_of_birth", "dateOfBirth", "dob",
        "home_address", "HomeAddress",
    ],
)  # fmt: skip
def test_keys_naming_personal_data_are_flagged_at_the_key(key: str) -> None:
    issues = find_personal_data({"metadata": {key: "x"}})

    assert [issue.pointer for issue in issues] == [f"/metadata/{key}"]
    assert repr(key) in issues[0].message


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("contact", "contact details"),
        ("email", "e-mail"),
        ("phone", "phone number"),
        ("first_name", "name"),
        ("date_of_birth", "birth"),
        ("home_address", "home address"),
        ("contact_person", "contact"),
    ],
)
def test_key_issue_says_what_kind_of_personal_data(key: str, kind: str) -> None:
    (issue,) = find_personal_data({key: "x"})

    assert kind in issue.message


def test_contact_key_is_flagged_however_deep() -> None:
    payload = {"passport": {"conformity_claims": [{"declared_value": {"contact": {"x": 1}}}]}}

    (issue,) = find_personal_data(payload)

    assert issue.pointer == "/passport/conformity_claims/0/declared_value/contact"


def test_subtree_under_a_flagged_key_is_reported_once() -> None:
    issues = find_personal_data({"contact": {"email": "maria@example.com", "phone": "+49 89 1"}})

    assert [issue.pointer for issue in issues] == ["/contact"]


@pytest.mark.parametrize(
    "key",
    [
        "name", "economic_operator_name", "economic_operator_id", "address", "issuer",
        "issuer_node", "manufacturer", "operator", "last_contact", "contactless", "smartphone",
        "microphone", "cell", "mobile", "ewaste-phones", "salesperson", "passport",
        "source_operator_id", "approved_by", "hotel",
    ],
)  # fmt: skip
def test_innocent_keys_are_not_flagged(key: str) -> None:
    assert find_personal_data({key: "x"}) == []


def test_no_schema_property_name_is_flagged_except_the_contact_block() -> None:
    reference = _require_reference()
    names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for path in [*reference.glob("schemas/*.json"), *reference.glob("profiles/*/schemas/*.json")]:
        collect(json.loads(path.read_text(encoding="utf-8")))
    collect(json.loads((reference / "openapi.json").read_text(encoding="utf-8")))
    flagged = {name for name in names if find_personal_data({name: None})}

    # `contact` is forbidden by the DNA schemas; NodeInfo's contact block holds email and phone.
    assert flagged == {"contact", "email", "phone"}


# --- values: positives ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "maria@example.com",
        "Mail: maria.mueller@stadtwerke-muenchen.de.",
        "Rückfragen an müller@beispiel.de",
        "MARIA+loop@Example.CO.UK",
        "https://maria:secret@example.com/path",
        "mailto:info@example.org",
    ],
)
def test_values_containing_an_email_address_are_flagged(text: str) -> None:
    (issue,) = find_personal_data({"notes": text})

    assert issue.pointer == "/notes"
    assert "e-mail address" in issue.message
    assert text not in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "+49 89 1234 5678",
        "+49-89-12345678",
        "+4989123456789",
        "+49 (0)89 1234 5678",
        "+1 (555) 123-4567",
        "+33 1 23 45 67 89",
        "tel:+4989123456",
        "089 1234 5678",
        "(089) 123-45678",
        "0171/1234567",
        "089-12345678",
        "0049 89 1234 5678",
        "01 23 45 67 89",
        "Tel: 089 1234567",
        "Call 089 1234 5678 after 9.",
        "Rückruf unter 030 / 123 456 78",
        "555-123-4567",
        "(555) 123-4567",
    ],
)
def test_values_containing_a_phone_number_are_flagged(text: str) -> None:
    (issue,) = find_personal_data({"terms": text})

    assert issue.pointer == "/terms"
    assert "phone number" in issue.message


def test_pointers_are_rfc6901_escaped() -> None:
    (issue,) = find_personal_data({"a/b": {"c~d": ["x", "maria@example.com"]}})

    assert issue.pointer == "/a~1b/c~0d/1"


def test_an_email_address_used_as_a_key_is_flagged() -> None:
    (issue,) = find_personal_data({"metadata": {"maria@example.com": True}})

    assert issue.pointer == "/metadata/maria@example.com"


def test_deep_nesting_does_not_overflow_the_stack() -> None:
    payload: Any = "089 1234 5678"
    for _ in range(50_000):
        payload = [payload]

    (issue,) = find_personal_data(payload)

    assert issue.pointer == "/0" * 50_000


# --- values: no false positives ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "15 01 02", "16 06 05", "01 01 01", "EWC 01 01 01 02 01 03", "391510", "39151000",
        "3915 10 80 00", "0101 21 00 00", "0101.21.00.00", "3915.10", "04012345678901",
        "4 012345 678901", "(01) 04012345678901", "7440-50-8", "C22.2",
        "2025-06-03T09:15:00Z", "2025-06-03T09:15:00+01:00", "2025-06-03 09:15:00",
        "03.06.2025 09:15", "03.06.25 - 05.06.25", "06/03/2025", "2025-W22-01", "PT48H",
        "P1Y2M10DT2H30M", "08:00-17:00", "Mo-Fr 08:00-17:00",
        "MAT-DE-MUC-2025-PLASTIC-B847F3", "TXN-2025-05-27-001", "OFR-0123-4567-89",
        "DD-DE-MUC-2026-WSR-0044", "550e8400-e29b-41d4-a716-446655440000",
        "https://example.com/diwass/notifications/DE-MUC-2026-9C3F02",
        "https://example.com/docs/0891234-5678-901", "https://id.gs1.org/01/04012345678901",
        "urn:epc:id:sgtin:426001.123456.2025B847F3", "www.example.com/089-1234-5678",
        "1000.50", "1.234.567,89", "120 000 000 t", "0.5 - 0.75 t", "0,5 t",
        "48.1351, 11.582", "48.1351 11.582", "-0.1278 51.5074", "0.1278 51.5074",
        "Industriestraße 12, 80339 München", "Hauptstraße 5, 01067 Dresden", "01234-5678",
        "user:u-7f3a@munich.loop", "business:brewery@munich.loop", "node:lab-hub.loop",
        "Regulation (EU) 2023/1542", "Regulation (EU) 2024/1781 Art. 7(5)", "EN ISO 12945-2",
        "DIN EN 13432:2000-12", "0.2.0", "Batch 0042 0043 0044", "@handle",
        "https://medium.com/@user.name/post", "Standing Desk — Ergotron WorkFit",
    ],
)  # fmt: skip
def test_codes_dates_ids_and_numbers_are_not_flagged(text: str) -> None:
    assert find_personal_data({"notes": text}) == []


def _examples() -> list[tuple[str, Any]]:
    examples = reference_dir() / "examples"
    if not examples.is_dir():
        return [("missing", None)]
    found: list[tuple[str, Any]] = []
    for path in sorted(examples.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        items = document if isinstance(document, list) else [document]
        found += [(f"{path.name}[{i}]", item) for i, item in enumerate(items)]
    return found


@pytest.mark.parametrize(("name", "entity"), _examples())
def test_no_official_example_is_flagged(name: str, entity: Any) -> None:
    _require_reference()
    assert find_personal_data(entity) == [], name


# --- property tests for the code families -----------------------------------------------------

ewc_codes = st.from_regex(r"\A(0[1-9]|1[0-9]|20) [0-9]{2} [0-9]{2}\Z")
customs_codes = st.from_regex(r"\A[0-9]{6,10}\Z") | st.from_regex(
    r"\A[0-9]{4}([ .][0-9]{2}){1,3}\Z"
)
gtins = st.integers(8, 14).flatmap(lambda n: st.text(string.digits, min_size=n, max_size=n))
cas_numbers = st.from_regex(r"\A[1-9][0-9]{1,6}-[0-9]{2}-[0-9]\Z")
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
_days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
dates = _days.map(date.isoformat) | _days.map(lambda d: d.strftime("%d.%m.%Y"))
durations = st.from_regex(r"\AP([0-9]{1,3}Y)?([0-9]{1,3}M)?([0-9]{1,3}D)?(T[0-9]{1,3}H)?\Z")
material_ids = st.from_regex(r"\AMAT-[A-Z]{2}-[A-Z]{3}-[0-9]{4}-[A-Z]{3,10}-[0-9A-F]{6,12}\Z")
entity_ids = st.from_regex(r"\A(OFR|MCH|TRF|OFF)-[0-9A-Z-]{8,20}\Z")
transaction_ids = st.from_regex(r"\ATXN-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{3,5}\Z")
urls = st.from_regex(r"\Ahttps://example\.com(/[A-Za-z0-9-]{1,20}){0,4}(\.pdf)?\Z")
decimals = st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False).map(str)
coordinates = st.tuples(
    st.floats(-90, 90).map(lambda v: round(v, 5)), st.floats(-180, 180).map(lambda v: round(v, 5))
).map(lambda p: f"{p[0]}, {p[1]}")
postcodes = st.tuples(st.integers(1, 300), st.from_regex(r"\A[0-9]{5}\Z")).map(
    lambda p: f"Industriestraße {p[0]}, {p[1]} München"
)
accounts = st.from_regex(r"\A(user|business|node):[a-z0-9-]{1,12}@[a-z0-9-]{1,20}\.loop\Z")

CODE_FAMILIES = {
    "ewc": ewc_codes,
    "customs": customs_codes,
    "gtin": gtins,
    "cas": cas_numbers,
    "datetime": datetimes,
    "date": dates,
    "duration": durations,
    "material_id": material_ids,
    "entity_id": entity_ids,
    "transaction_id": transaction_ids,
    "url": urls,
    "decimal": decimals,
    "coordinates": coordinates,
    "postcode": postcodes,
    "account": accounts,
}


@pytest.mark.parametrize("family", sorted(CODE_FAMILIES))
def test_code_family_is_never_flagged_alone_or_in_a_sentence(family: str) -> None:
    @given(CODE_FAMILIES[family], st.sampled_from(["{}", "Ref {}.", "{} (lab)", "a: {}, b"]))
    def check(code: str, template: str) -> None:
        assert not _flagged(template.format(code)), template.format(code)

    check()


@given(st.lists(st.sampled_from(sorted(CODE_FAMILIES)), min_size=2, max_size=4), st.data())
def test_mixtures_of_codes_separated_by_commas_are_not_flagged(
    families: list[str], data: st.DataObject
) -> None:
    codes = [data.draw(CODE_FAMILIES[family]) for family in families]

    assert not _flagged(", ".join(codes))


@given(
    st.from_regex(r"\A[1-9][0-9]{0,2}\Z"),
    st.lists(st.from_regex(r"\A[0-9]{2,4}\Z"), min_size=2, max_size=4),
    st.sampled_from([" ", "-", "."]),
)
def test_international_numbers_are_flagged(country: str, groups: list[str], sep: str) -> None:
    number = f"+{country} " + sep.join(groups)
    digits_total = sum(c.isdigit() for c in number)
    if 8 <= digits_total <= 16:
        assert _flagged(f"Kontakt {number}")


@given(
    st.from_regex(r"\A[a-z][a-z0-9._-]{0,15}[a-z0-9]\Z"),
    st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z"),
    st.sampled_from(["de", "com", "org", "eu", "co.uk"]),
)
def test_email_addresses_are_flagged_but_loop_accounts_are_not(
    local: str, domain: str, tld: str
) -> None:
    assert _flagged(f"write to {local}@{domain}.{tld}")
    assert not _flagged(f"user:{local}@{domain}.loop")


# The pre-filter (docs/performance.md) may only skip texts no phone rule can flag: whatever the
# full rules find, the eight-digit pre-filter lets through.
_phoneish = st.text(alphabet="0123456789+()-./ \t@aZ٣", max_size=40)


@given(_phoneish | st.text(max_size=40))
def test_the_digit_prefilter_never_hides_a_phone_number(text: str) -> None:
    if privacy._contains_phone_number(text):
        assert privacy._ENOUGH_DIGITS.match(text)


@given(st.dictionaries(_phoneish, _phoneish, max_size=4))
def test_keys_are_judged_the_same_through_the_cache(payload: dict[str, str]) -> None:
    assert find_personal_data(payload) == find_personal_data(dict(payload))
    for key in payload:
        assert privacy._key_verdict(key) == (
            privacy._key_names_personal_data(key),
            privacy._text_finding(key),
        )
