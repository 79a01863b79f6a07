"""Recognize a usage file by its header and hand it to the right parser."""

from __future__ import annotations

import re

from intelliwatt_pipelines.sources import smt_interval, smt_simple
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedIntervals, decode_text, first_line

ESIID_IN_NAME = re.compile(r"(?<!\d)(\d{22}|\d{17})(?!\d)")


def esiid_from_filename(filename: str) -> str | None:
    match = ESIID_IN_NAME.search(filename)
    return match.group(1) if match else None


USAGE_SOURCES = {smt_interval.KIND: "smt", smt_simple.KIND_LOCAL: "smt", smt_simple.KIND_UTC: "csv"}


def detect_kind(data: bytes) -> str:
    """The file kind from its first line, without parsing it; ``unknown`` when nothing matches."""
    try:
        header = first_line(data[:4096].decode("utf-8-sig", errors="strict"))
    except UnicodeDecodeError:
        return "unknown"
    for kind, test in ((smt_interval.KIND, smt_interval.matches), (smt_simple.KIND_LOCAL, smt_simple.matches_local),
                       (smt_simple.KIND_UTC, smt_simple.matches_utc)):
        if test(header):
            return kind
    return "unknown"


def parse_usage_file(data: bytes, filename: str = "", *, esiid: str | None = None,
                     meter: str | None = None) -> ParsedIntervals:
    """Parse any supported usage CSV. Raises ParseError with a readable message otherwise."""
    text = decode_text(data)
    header = first_line(text)
    if smt_interval.matches(header):
        return smt_interval.parse(text)
    if smt_simple.matches_local(header):
        return smt_simple.parse_local(text)
    if smt_simple.matches_utc(header):
        return smt_simple.parse_utc(text, esiid=esiid or esiid_from_filename(filename), meter=meter)
    shown = header[:200] + ("…" if len(header) > 200 else "")
    raise ParseError(f"unrecognized usage file header: {shown!r}")
