"""protocol.rdf: N-Quads from the bundled contexts only."""

from __future__ import annotations

import pytest

from loopnode.protocol.jsonld import CONTEXT_V020, ExpansionFailed, RemoteContextRefused
from loopnode.protocol.rdf import to_nquads


def test_relative_ids_resolve_against_the_base() -> None:
    out = to_nquads(
        {"@context": CONTEXT_V020, "@type": "Offer", "id": "OFR-1"},
        "https://n.example/api/v1/offer/",
    )
    assert out.startswith("<https://n.example/api/v1/offer/OFR-1> ")


def test_a_context_that_is_not_bundled_is_refused_without_fetching() -> None:
    with pytest.raises(RemoteContextRefused):
        to_nquads({"@context": "https://www.w3.org/ns/credentials/v2", "id": "x"}, "https://n/")


def test_garbage_json_ld_is_an_invalid_request() -> None:
    with pytest.raises(ExpansionFailed):
        to_nquads({"@context": 5}, "https://n/")
