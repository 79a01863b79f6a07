"""Recognize a vendor file by its content (and name) and hand it to the right parser.

Interval files become ``ParsedIntervals``; meter reads (daily usage CSV, monthly billing JSON)
become ``ParsedBillingReads``; SMT meter info CSVs become ``ParsedMeterInfo``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from intelliwatt_pipelines import kinds
from intelliwatt_pipelines.esiid import esiid_from_filename
from intelliwatt_pipelines.sources import (
    green_button,
    koios,
    onepwr_iot,
    onepwr_registry,
    smt_api_interval,
    smt_billing,
    smt_interval,
    smt_meter_info,
    smt_simple,
    thundercloud,
    thundercloud_parquet,
)
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    ParsedIntervals,
    ParsedMeterRoles,
    ParsedRegisterReads,
    ReadingWindow,
    SpanTracker,
    decode_text,
)

# Bump on a change to which parser a file goes to: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

# kind (told apart by kinds.header_kind) -> (parser(text, filename, esiid, meter, window), vendor source
# written on the intervals)
FORMATS: dict[str, tuple[Callable[..., ParsedIntervals], str]] = {
    smt_interval.KIND: (lambda text, meter, window, **_: smt_interval.parse(text, meter=meter, window=window), "smt"),
    smt_simple.KIND_LOCAL: (lambda text, window, **_: smt_simple.parse_local(text, window), "smt"),
    smt_simple.KIND_UTC: (lambda text, filename, esiid, meter, window: smt_simple.parse_utc(
        text, esiid=esiid or esiid_from_filename(filename), meter=meter, window=window), "csv"),
    # Source "smt" as the CSV: the same SMT readings, whichever way they were delivered.
    smt_api_interval.KIND: (lambda text, filename, esiid, meter, window: smt_api_interval.parse(
        text, esiid=esiid or esiid_from_filename(filename), meter=meter, window=window), "smt"),
    # 1PWR's SparkMeter cloud: hourly interval kWh per customer code and serial (vendor-apis.md §3.1 2)
    koios.KIND: (lambda text, window, **_: koios.parse(text, window=window), koios.SOURCE),
}
USAGE_SOURCES = {kind: source for kind, (_, source) in FORMATS.items()} | {green_button.KIND: "green_button"}
# Register reads become intervals in ingest (sources.registers); those carry their vendor's source.
USAGE_SOURCES |= {onepwr_iot.KIND: onepwr_iot.SOURCE, thundercloud.KIND: thundercloud.SOURCE}
# ThunderCloud's history parquet: intervals or register reads (by its columns), both of source thundercloud
USAGE_SOURCES[thundercloud_parquet.KIND] = thundercloud_parquet.SOURCE


# What a file parses to: intervals, meter reads, or meters (SMT meter info).
ParsedUsage = ParsedIntervals | smt_billing.ParsedBillingReads | smt_meter_info.ParsedMeterInfo
# 1PWR: register reads (1Meter IoT, ThunderCloud; ``.source`` names their vendor) and the meter registry
ParsedUsage = ParsedUsage | ParsedRegisterReads | ParsedMeterRoles
# kind -> parser(text, usage_points, window): the 1PWR files that are not intervals
READ_FORMATS: dict[str, Callable[..., ParsedRegisterReads | ParsedMeterRoles]] = {
    onepwr_iot.KIND: lambda text, usage_points, window: onepwr_iot.parse(text, usage_points=usage_points,
                                                                         window=window),
    thundercloud.KIND: lambda text, window, **_: thundercloud.parse(text, window=window),
    onepwr_registry.KIND: lambda text, **_: onepwr_registry.parse(text),
}

METER_IN_NAME = re.compile(r"(?:^|[^A-Za-z0-9])M([0-9]{3,40})(?=[^0-9]|$)")  # meter is at most 40 long


def meter_from_filename(filename: str) -> str | None:
    """A meter number from an ``M<digits>`` token in a file name (SMT interval files carry none)."""
    match = METER_IN_NAME.search(filename)
    return match.group(1) if match else None


def parse_usage_file(data: bytes, filename: str = "", *, esiid: str | None = None, meter: str | None = None,
                     usage_points: dict | None = None,
                     window: ReadingWindow = ReadingWindow()) -> ParsedUsage:
    """Parse any supported file. Raises ParseError with a readable message otherwise, also when a
    series spans more days than ``window`` allows (the file is refused whole)."""
    parsed = _parse_any(data, filename, esiid=esiid, meter=meter, usage_points=usage_points, window=window)
    if isinstance(parsed, smt_billing.ParsedBillingReads):
        SpanTracker(window).add(parsed.frame.assign(_last=parsed.frame["read_end"] - pd.Timedelta(microseconds=1)),
                                first="read_start", last="_last")
    elif isinstance(parsed, ParsedIntervals):  # meter info has no readings, so no span
        SpanTracker(window).add(parsed.frame)
    elif isinstance(parsed, ParsedRegisterReads):  # a series of reads is (esiid, meter): one register each
        SpanTracker(window).add(parsed.frame.assign(channel="register"))
    return parsed


def _parse_any(data: bytes, filename: str, *, esiid: str | None, meter: str | None, usage_points: dict | None,
               window: ReadingWindow) -> ParsedUsage:
    if kinds.is_parquet(data):  # binary: decode_text would refuse its NUL bytes
        return thundercloud_parquet.parse(data, window=window)
    text = decode_text(data)
    if kinds.is_green_button(text[:kinds.HEAD_BYTES]):
        return green_button.parse(data, green_button.Binding(esiid=esiid, meter=meter, usage_points=usage_points or {}),
                                  window=window)
    header = kinds.first_line(text)
    kind = kinds.SMT_INTERVAL_JSON if kinds.is_interval_json(text) else kinds.header_kind(header, filename)
    if kind == kinds.SMT_MONTHLY_JSON:  # any other JSON: a 1PWR answer when its first keys say so
        kind = kinds.onepwr_json_kind(text[:kinds.HEAD_BYTES]) or kind
    if kind in READ_FORMATS:
        return READ_FORMATS[kind](text, usage_points=usage_points or {}, window=window)
    if kind == kinds.SMT_MONTHLY_JSON:
        return smt_billing.parse_monthly_json(text, esiid=esiid or esiid_from_filename(filename), meter=meter,
                                              window=window)
    if kind == kinds.SMT_DAILY_READ:
        return smt_billing.parse_daily(text, esiid=esiid or esiid_from_filename(filename), meter=meter, window=window)
    if kind == kinds.SMT_METER_INFO_CSV:
        return smt_meter_info.parse(text)
    if kind == "unknown":
        shown = header[:120] + ("…" if len(header) > 120 else "")
        raise ParseError(f"unrecognized usage file header: {shown!r}")
    return FORMATS[kind][0](text, filename=filename, esiid=esiid, meter=meter, window=window)
