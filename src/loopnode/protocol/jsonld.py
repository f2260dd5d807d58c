"""JSON-LD: the `@context` rule and offline expansion against the bundled LOOP contexts.

Theory of operation: every core schema pins `@context` to exactly one of two published URLs
(SPEC-DIGEST §1.0, §1.15), and the spec makes the published context files the source of truth
(Appendix A) without requiring anyone to fetch them. loopnode ships both files as package data
(see `contexts/NOTICE.md`) and resolves them through `document_loader`, which serves those two
URLs from memory and refuses every other URL. JSON-LD processing therefore never touches the
network: a payload naming a remote context cannot make the node fetch it (an SSRF and a
denial-of-service vector), it gets a clear `RemoteContextRefused` instead.

`check_context` is the cheap rule that validation applies; `expand` is for consumers that want
the RDF meaning of a payload (term IRIs), e.g. for interop tests and exports.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from pyld import jsonld as pyld_jsonld

from loopnode.domain.errors import InvalidRequest, Issue

__all__ = [
    "CONTEXT_URLS",
    "CONTEXT_V011",
    "CONTEXT_V020",
    "ExpansionFailed",
    "RemoteContextRefused",
    "check_context",
    "document_loader",
    "expand",
]

_CONTEXT_BASE = "https://localloop.urbnia.com/projects/loop-protocol/contexts/"
CONTEXT_V011 = _CONTEXT_BASE + "loop-v0.1.1.jsonld"
CONTEXT_V020 = _CONTEXT_BASE + "loop-v0.2.0.jsonld"
CONTEXT_URLS: frozenset[str] = frozenset({CONTEXT_V011, CONTEXT_V020})

_FILES = {CONTEXT_V011: "loop-v0.1.1.jsonld", CONTEXT_V020: "loop-v0.2.0.jsonld"}
_CONTEXT_POINTER = "/@context"


class RemoteContextRefused(InvalidRequest):
    """A JSON-LD context URL that is not one of the bundled LOOP contexts was requested."""


class ExpansionFailed(InvalidRequest):
    """The payload is not valid JSON-LD (pyld rejected it)."""


def _load_bundled() -> dict[str, dict[str, Any]]:
    folder = resources.files("loopnode.protocol").joinpath("contexts")
    return {
        url: json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        for url, name in _FILES.items()
    }


_DOCUMENTS = _load_bundled()


class _ResolvedContextCache(dict[str, Any]):
    """pyld's shared cache of processed contexts, bounded and private to this module.

    Processing the 190-term v0.2.0 context dominates expansion time, so it is cached. pyld's own
    module-level cache would be shared with any other loader in the process (tests compare ours
    with a reference loader), and pyld also caches every inline context it meets under a "static"
    tag, so an unbounded cache would grow with hostile input: evict the oldest entry instead.
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            while len(self) >= self._max_entries:
                super().pop(next(iter(self)))
            super().__setitem__(key, value)


_RESOLVED = _ResolvedContextCache(max_entries=64)


def check_context(payload: Mapping[str, Any]) -> list[Issue]:
    """Issues for a JSON-LD entity whose `@context` is not exactly one of `CONTEXT_URLS`.

    The schemas accept only the URL string itself: no array, no inline object, no other version.
    """
    allowed = " or ".join(sorted(CONTEXT_URLS))
    if "@context" not in payload:
        return [Issue(_CONTEXT_POINTER, f"@context is required and must be {allowed}")]
    value = payload["@context"]
    if isinstance(value, str) and value in CONTEXT_URLS:
        return []
    return [Issue(_CONTEXT_POINTER, f"@context must be exactly the string {allowed}")]


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that serves the bundled contexts and refuses everything else.

    `options` is accepted for pyld's calling convention and ignored.
    """
    document = _DOCUMENTS.get(url)
    if document is None:
        raise RemoteContextRefused(
            f"JSON-LD context {url[:300]!r} is not available: this node resolves only the bundled "
            f"LOOP contexts ({', '.join(sorted(CONTEXT_URLS))}) and never fetches contexts from "
            "the network"
        )
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        # pyld may rewrite URLs inside a context it processes; hand out a copy every time.
        "document": copy.deepcopy(document),
        # "static" lets the resolver cache the processed context (see _ResolvedContextCache).
        "tag": "static",
    }


def expand(payload: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    """JSON-LD expansion of a payload (object or array) using only the bundled contexts.

    Relative IRIs (LOOP's ids) are left relative, as with a null document base.

    Raises `RemoteContextRefused` when the payload names any other context URL and
    `ExpansionFailed` when pyld rejects the document; never fetches anything.
    """
    options = {
        "documentLoader": document_loader,
        "contextResolver": pyld_jsonld.ContextResolver(_RESOLVED, document_loader),
        # No document base: LOOP ids such as "OFR-2F7A6B9C" stay as they are instead of being
        # resolved against pyld's made-up default base, http://example.org/base/.
        "base": None,
    }
    try:
        expanded = pyld_jsonld.expand(payload, options)
    except RecursionError as exc:
        raise ExpansionFailed("payload is nested too deeply for JSON-LD expansion") from exc
    # Besides JsonLdError, pyld lets built-in errors escape on some malformed input (an empty
    # relative context URL gives a ValueError); for the caller every one of them means the same.
    except Exception as exc:
        refused = _refusal_in(exc)
        if refused is not None:
            raise RemoteContextRefused(refused.message) from exc
        raise ExpansionFailed(f"payload is not valid JSON-LD: {_describe(exc)}") from exc
    return list(expanded)


def _refusal_in(exc: BaseException) -> RemoteContextRefused | None:
    # pyld wraps loader errors (sometimes twice); the refusal is somewhere down the cause chain.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RemoteContextRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _describe(exc: BaseException) -> str:
    # JsonLdError.__str__ dumps its details (which echo the payload); the first arg is the reason.
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    code = getattr(exc, "code", None)
    detail = f"{message} ({code})" if code else message
    return detail[:300]
