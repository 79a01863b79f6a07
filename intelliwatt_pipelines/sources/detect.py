"""Recognize a vendor file by its content (and name) and hand it to the right parser.

Interval files become ``ParsedIntervals``; meter reads (daily usage CSV, monthly billing JSON)
become ``ParsedBillingReads``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from intelliwatt_pipelines.esiid import ESIID_IN_TEXT
from intelliwatt_pipelines.sources import green_button, smt_billing, smt_interval, smt_simple
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedIntervals, ReadingWindow, SpanTracker, decode_text, first_line

# Bump on a change to which parser a file goes to: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

# kind -> (header test, parser(text, filename, esiid, meter, window), vendor source written on the intervals)
FORMATS: dict[str, tuple[Callable[[str], bool], Callable[..., ParsedIntervals], str]] = {
    smt_interval.KIND: (smt_interval.matches, lambda text, meter, window, **_: smt_interval.parse(
        text, meter=meter, window=window), "smt"),
    smt_simple.KIND_LOCAL: (smt_simple.matches_local, lambda text, window, **_: smt_simple.parse_local(text, window),
                            "smt"),
    smt_simple.KIND_UTC: (smt_simple.matches_utc, lambda text, filename, esiid, meter, window: smt_simple.parse_utc(
        text, esiid=esiid or esiid_from_filename(filename), meter=meter, window=window), "csv"),
}
USAGE_SOURCES = {kind: source for kind, (_, _, source) in FORMATS.items()} | {green_button.KIND: "green_button"}


METER_IN_NAME = re.compile(r"(?:^|[^A-Za-z0-9])M([0-9]{3,40})(?=[^0-9]|$)")  # meter is at most 40 long


def esiid_from_filename(filename: str) -> str | None:
    match = ESIID_IN_TEXT.search(filename)
    return match.group(1) if match else None


def meter_from_filename(filename: str) -> str | None:
    """A meter number from an ``M<digits>`` token in a file name (SMT interval files carry none)."""
    match = METER_IN_NAME.search(filename)
    return match.group(1) if match else None


def _kind(header: str, filename: str = "") -> str:
    if smt_billing.looks_json(header):
        return smt_billing.KIND_MONTHLY
    if smt_billing.looks_daily(header, filename):
        return smt_billing.KIND_DAILY
    return next((kind for kind, (test, _, _) in FORMATS.items() if test(header)), "unknown")


def detect_kind(head: bytes, filename: str = "") -> str:
    """The file kind from its first bytes and name, without parsing; ``unknown`` when nothing matches.

    Packages (PGP, ZIP) are ingest's business: ``ingest.capture.detect_kind`` checks for them first."""
    text = head[:4096].decode("utf-8-sig", errors="replace")
    if green_button.matches(text):
        return green_button.KIND
    return _kind(first_line(text), filename)


def parse_usage_file(data: bytes, filename: str = "", *, esiid: str | None = None, meter: str | None = None,
                     usage_points: dict | None = None,
                     window: ReadingWindow = ReadingWindow()) -> ParsedIntervals | smt_billing.ParsedBillingReads:
    """Parse any supported file. Raises ParseError with a readable message otherwise, also when a
    series spans more days than ``window`` allows (the file is refused whole)."""
    parsed = _parse_any(data, filename, esiid=esiid, meter=meter, usage_points=usage_points, window=window)
    if isinstance(parsed, smt_billing.ParsedBillingReads):
        SpanTracker(window).add(parsed.frame.assign(_last=parsed.frame["read_end"] - pd.Timedelta(microseconds=1)),
                                first="read_start", last="_last")
    else:
        SpanTracker(window).add(parsed.frame)
    return parsed


def _parse_any(data: bytes, filename: str, *, esiid: str | None, meter: str | None, usage_points: dict | None,
               window: ReadingWindow) -> ParsedIntervals | smt_billing.ParsedBillingReads:
    text = decode_text(data)
    if green_button.matches(text[:4096]):
        return green_button.parse(data, green_button.Binding(esiid=esiid, meter=meter, usage_points=usage_points or {}),
                                  window=window)
    header = first_line(text)
    kind = _kind(header, filename)
    if kind == smt_billing.KIND_MONTHLY:
        return smt_billing.parse_monthly_json(text, esiid=esiid or esiid_from_filename(filename), meter=meter,
                                              window=window)
    if kind == smt_billing.KIND_DAILY:
        return smt_billing.parse_daily(text, esiid=esiid or esiid_from_filename(filename), meter=meter, window=window)
    if kind == "unknown":
        shown = header[:120] + ("…" if len(header) > 120 else "")
        raise ParseError(f"unrecognized usage file header: {shown!r}")
    return FORMATS[kind][1](text, filename=filename, esiid=esiid, meter=meter, window=window)
