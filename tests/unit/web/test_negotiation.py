"""Accept-header negotiation for the resolver and RDF views."""

from __future__ import annotations

import pytest

from loopnode.web.negotiation import prefers

HTML = ("text/html", "application/xhtml+xml")
JSON = ("application/ld+json", "application/json")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Firefox
        ("*/*", False),  # curl
        (None, False),
        ("application/ld+json", False),
        ("application/json;q=0.9, text/html;q=0.5", False),
        ("text/html;q=0.5, application/json;q=0.5", True),
        ("text/html;q=bogus", False),
        ("text/html;q=0", False),
    ],
)
def test_html_is_chosen_only_when_asked_for_at_least_as_strongly(header, expected) -> None:
    assert prefers(header, HTML, JSON) is expected
