"""Content negotiation on ``Accept`` (RFC 9110 §12.5.1): media ranges, q-values, parameters.

Pure: a header value and the media types a route offers in, the chosen one (or None) out. Each
offer takes the q of the most specific range that matches it (``text/csv`` over ``text/*`` over
``*/*``, a range with parameters over one without); ``q=0`` means "not this". The highest q wins;
on a tie the more specific match, then the route's own order (JSON first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


@dataclass(frozen=True)
class MediaType:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> MediaType:
        """``text/csv; charset=utf-8`` (for offers: no wildcards, no q)."""
        found = _parse_range(text)
        if found is None or "*" in (found[0].type, found[0].subtype):
            raise ValueError(f"not a media type: {text!r}")
        return found[0]

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}" + "".join(f"; {k}={v}" for k, v in self.params)


@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    q: float

    def specificity(self, offer: MediaType) -> tuple[int, int, int] | None:
        """How closely this range names ``offer`` (None: it does not match it)."""
        if self.type not in ("*", offer.type) or self.subtype not in ("*", offer.subtype):
            return None
        if self.type == "*" and self.subtype != "*":
            return None  # "*/json" is not a media range
        if not set(self.params) <= set(offer.params):
            return None
        return (self.type != "*", self.subtype != "*", len(self.params))


def _parse_range(text: str) -> tuple[MediaType, float] | None:
    """One element of Accept; None when malformed (it is then ignored, as RFC 9110 allows)."""
    head, *rest = text.split(";")
    kind, slash, sub = head.strip().partition("/")
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(sub):
        return None
    params, q = [], 1.0
    for item in rest:
        name, eq, value = (part.strip() for part in item.partition("="))
        value = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
        if not eq or not _TOKEN.match(name):
            return None
        if name.lower() == "q":
            if not _QVALUE.match(value):
                return None
            q = float(value)
            break  # anything after q is an accept-extension, not a media-type parameter
        # Parameter values compare case-insensitively here: ours (charset, header) are case-insensitive.
        params.append((name.lower(), value.lower()))
    return MediaType(kind.lower(), sub.lower(), tuple(params)), q


def parse_accept(header: str) -> list[_Range]:
    ranges = []
    for element in header.split(","):
        if element.strip():
            found = _parse_range(element)
            if found is not None:
                ranges.append(_Range(found[0].type, found[0].subtype, found[0].params, found[1]))
    return ranges


def choose(accept: str | None, offers: Sequence[MediaType]) -> MediaType | None:
    """The offer to send for this Accept value, or None when none is acceptable (a 406).
    No header (or an empty one) accepts anything: the first offer."""
    if accept is None or not accept.strip():
        return offers[0]
    ranges = parse_accept(accept)
    best, best_key = None, None
    for rank, offer in enumerate(offers):
        matches = [(spec, r.q) for r in ranges if (spec := r.specificity(offer)) is not None]
        if not matches:
            continue
        spec, q = max(matches, key=lambda m: m[0])  # the most specific range decides (first of equals)
        key = (q, spec, -rank)
        if q > 0 and (best_key is None or key > best_key):
            best, best_key = offer, key
    return best
