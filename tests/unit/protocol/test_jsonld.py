"""JSON-LD: the @context rule, offline expansion equal to the official contexts, no network."""

from __future__ import annotations

import json
import socket
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld as pyld_jsonld

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.jsonld import (
    CONTEXT_URLS,
    CONTEXT_V011,
    CONTEXT_V020,
    ExpansionFailed,
    RemoteContextRefused,
    check_context,
    document_loader,
    expand,
)
from tests.reference import reference_dir, require_reference


def _require_reference() -> Path:
    return require_reference()


def _example_entities() -> list[tuple[str, Any]]:
    examples = reference_dir() / "examples"
    if not examples.is_dir():
        return []
    entities: list[tuple[str, Any]] = []
    for path in sorted(examples.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        items = document if isinstance(document, list) else [document]
        entities.extend((f"{path.name}[{index}]", item) for index, item in enumerate(items))
    return entities


EXAMPLES = _example_entities()
EXAMPLES_WITH_CONTEXT = [(name, item) for name, item in EXAMPLES if "@context" in item]


def _official_loader(reference: Path) -> Any:
    def load(url: str, options: Any = None) -> dict[str, Any]:
        name = url.rsplit("/", 1)[-1]
        document = json.loads((reference / "contexts" / name).read_text(encoding="utf-8"))
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": document,
        }

    return load


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("JSON-LD processing tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_context_urls_are_the_two_published_contexts() -> None:
    assert {
        "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.1.1.jsonld",
        "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld",
    } == CONTEXT_URLS


@pytest.mark.parametrize("name", ["loop-v0.1.1.jsonld", "loop-v0.2.0.jsonld"])
def test_bundled_context_is_byte_identical_to_the_official_file(name: str) -> None:
    reference = _require_reference()
    bundled = resources.files("loopnode.protocol").joinpath("contexts", name).read_bytes()

    assert bundled == (reference / "contexts" / name).read_bytes()


def test_notice_names_origin_commit_and_licence() -> None:
    notice = resources.files("loopnode.protocol").joinpath("contexts", "NOTICE.md").read_text()

    assert "9420ef326a6fe5ca83fdb1e61b2ad3df9e4ee3ea" in notice
    assert "MIT" in notice
    assert all(url in notice for url in CONTEXT_URLS)


@pytest.mark.parametrize("url", sorted(CONTEXT_URLS))
def test_context_string_accepted(url: str) -> None:
    assert check_context({"@context": url, "@type": "Offer"}) == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"@context": None},
        {"@context": [CONTEXT_V020]},
        {"@context": {"@vocab": "https://localloop.urbnia.com/projects/loop-protocol/terms/"}},
        {"@context": CONTEXT_V020.replace("https://", "http://")},
        {"@context": CONTEXT_V020 + " "},
        {
            "@context": "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.3.0.jsonld"
        },
    ],
)
def test_anything_but_one_context_url_string_is_an_issue_at_context(
    payload: dict[str, Any],
) -> None:
    issues = check_context(payload)

    assert len(issues) == 1
    assert issues[0].pointer == "/@context"
    assert CONTEXT_V020 in issues[0].message


@pytest.mark.parametrize(("name", "entity"), EXAMPLES_WITH_CONTEXT or [("none", {})])
def test_every_example_has_an_accepted_context(name: str, entity: dict[str, Any]) -> None:
    _require_reference()
    assert check_context(entity) == []


@pytest.mark.parametrize(("name", "entity"), EXAMPLES_WITH_CONTEXT or [("none", {})])
def test_expansion_with_bundled_contexts_equals_expansion_with_official_files(
    name: str, entity: dict[str, Any], no_network: None
) -> None:
    reference = _require_reference()
    official_loader = _official_loader(reference)
    official = pyld_jsonld.expand(
        entity,
        {
            "documentLoader": official_loader,
            # A private cache, so the comparison really loads the official file.
            "contextResolver": pyld_jsonld.ContextResolver({}, official_loader),
            "base": None,
        },
    )

    ours = expand(entity)

    assert ours == official
    assert ours, f"{name} expanded to nothing"


def test_only_the_federate_accepted_example_lacks_a_context() -> None:
    _require_reference()
    without = [name for name, item in EXAMPLES if "@context" not in item]

    assert without == ["16-federate-accepted-response.json[0]"]


def test_expansion_maps_terms_to_loop_iris() -> None:
    expanded = expand({"@context": CONTEXT_V011, "@type": "Offer", "id": "OFR-2F7A6B9C"})

    assert expanded == [
        {
            "@id": "OFR-2F7A6B9C",
            "@type": ["https://localloop.urbnia.com/projects/loop-protocol/terms/Offer"],
        }
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"@context": "https://schema.org/", "name": "x"},
        {"@context": [CONTEXT_V020, "https://evil.example/context.jsonld"], "name": "x"},
        {
            "@context": {"x": {"@id": "https://x.example/x", "@context": "https://e.example/c"}},
            "x": {"y": 1},
        },
        {"@context": CONTEXT_V020.replace("https://", "http://"), "name": "x"},
    ],
)
def test_remote_context_is_refused_without_network_access(
    payload: dict[str, Any], no_network: None
) -> None:
    with pytest.raises(RemoteContextRefused) as caught:
        expand(payload)

    assert "never fetches" in caught.value.message
    assert isinstance(caught.value, InvalidRequest)


def test_document_loader_refuses_unknown_urls_directly(no_network: None) -> None:
    with pytest.raises(RemoteContextRefused):
        document_loader("https://example.org/context.jsonld", {})


def test_document_loader_serves_a_fresh_copy_of_each_bundled_context() -> None:
    first = document_loader(CONTEXT_V020, {})
    first["document"]["@context"]["id"] = "tampered"

    second = document_loader(CONTEXT_V020, {})

    assert second["document"]["@context"]["id"] == "@id"
    assert second["documentUrl"] == CONTEXT_V020


def test_inline_context_expands_offline(no_network: None) -> None:
    assert expand({"@context": {"@vocab": "https://x.example/"}, "a": 1}) == [
        {"https://x.example/a": [{"@value": 1}]}
    ]


def test_a_document_url_instead_of_a_payload_is_refused(no_network: None) -> None:
    with pytest.raises(RemoteContextRefused):
        expand("https://example.org/doc.jsonld")


@pytest.mark.parametrize(
    "payload",
    [
        {"@context": {"@vocab": 5}},
        {"@context": [""], "a": 1},
        {"@context": CONTEXT_V020, "@id": 5},
    ],
)
def test_malformed_json_ld_is_expansion_failed(payload: dict[str, Any]) -> None:
    with pytest.raises(ExpansionFailed):
        expand(payload)


def test_many_distinct_inline_contexts_do_not_grow_the_cache_without_bound() -> None:
    from loopnode.protocol import jsonld as module

    for index in range(500):
        expand({"@context": {"@vocab": f"https://x.example/{index}/"}, "a": 1})

    assert len(module._RESOLVED) <= 64
