"""LOOP entities as RDF (N-Quads), from JSON-LD with the bundled contexts only (issue 13 item 4).

Theory of operation (spec §3.4, Appendix A; JSON-LD 1.1 "Deserialize JSON-LD to RDF"): the
entity is converted by pyld with `protocol.jsonld.document_loader`, which serves the two bundled
LOOP contexts and refuses every other URL, so conversion never touches the network. LOOP ids are
relative IRIs; `base` makes them absolute (the node uses the URL the entity is served at, so
each subject IRI dereferences to the entity itself). Blank node labels are pyld's canonical
`_:b0, _:b1, …` in document order, so the same entity gives the same N-Quads every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyld import jsonld as pyld_jsonld

from loopnode.protocol.jsonld import (
    ExpansionFailed,
    RemoteContextRefused,
    document_loader,
)

__all__ = ["NQUADS", "to_nquads"]

NQUADS = "application/n-quads"


def to_nquads(document: Mapping[str, Any], base: str) -> str:
    """The N-Quads of `document`; RemoteContextRefused for contexts this node does not bundle."""
    options = {"format": NQUADS, "documentLoader": document_loader, "base": base}
    try:
        result = pyld_jsonld.to_rdf(dict(document), options)
    except RecursionError as exc:
        raise ExpansionFailed("document is nested too deeply for JSON-LD processing") from exc
    except Exception as exc:  # pyld raises JsonLdError and, on odd input, built-in errors
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, RemoteContextRefused):
                raise RemoteContextRefused(cause.message) from exc
            cause = cause.__cause__ or cause.__context__
        raise ExpansionFailed(f"document is not valid JSON-LD: {exc}"[:300]) from exc
    return str(result)
