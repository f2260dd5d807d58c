"""Accept-header negotiation shared by the resolver and the RDF views.

`prefers(header, wanted, others)` is true when a `wanted` media type is listed explicitly and
ranks at least as high as every type in `others` (wildcards count for `others` only, so
`*/*` alone never selects a special format).
"""

from __future__ import annotations

__all__ = ["accepted", "prefers"]


def accepted(header: str | None) -> dict[str, float]:
    """Media ranges of an Accept header with their q-values (malformed q counts as 0)."""
    ranges: dict[str, float] = {}
    for part in (header or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        ranges[media.lower()] = max(quality, ranges.get(media.lower(), 0.0))
    return ranges


def _quality(ranges: dict[str, float], media: str) -> float:
    kind = media.split("/")[0]
    for candidate in (media, f"{kind}/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


def prefers(header: str | None, wanted: tuple[str, ...], others: tuple[str, ...]) -> bool:
    ranges = accepted(header)
    best = max((ranges.get(m, 0.0) for m in wanted), default=0.0)
    return best > 0 and best >= max((_quality(ranges, m) for m in others), default=0.0)
