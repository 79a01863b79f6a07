"""Green Button (NAESB ESPI) Atom feeds: energy interval readings in, typed interval frames out.

Resources are separate ``<entry>``s joined by their link URLs, not by nesting:
UsagePoint ← MeterReading (``up`` = <UsagePoint>/MeterReading) → ReadingType (``related``),
IntervalBlock (``up`` = <MeterReading>/IntervalBlock). Each reading's epoch ``start`` (UTC) and
``duration`` are authoritative; local-time parameters are not used to place anything. Energy is
``value × 10^powerOfTenMultiplier`` Wh for ``uom`` 72. Readings longer than an hour (daily or
monthly bins, summaries) are not intervals and are skipped.

The XML is read with defusedxml, streaming entry by entry: a DTD (and so any entity expansion or
external entity) is refused before anything is expanded, and nothing is ever fetched.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError as XmlParseError

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.kinds import GREEN_BUTTON as KIND
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedIntervals,
    Problems,
    ReadingWindow,
    check_meters,
)

# Bump on a change to how this module turns ESPI feeds into rows: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

ATOM, ESPI = "{http://www.w3.org/2005/Atom}", "{http://naesb.org/espi}"
WH = 72  # ESPI uom code for watt-hours
FLOWS = {1: "consumption", 19: "generation"}
# ESPI QualityOfReading codes that mean the value was not measured as such.
ESTIMATED_QUALITIES = {7, 8, 9, 11, 12, 13, 15}
DELTA_DATA = 4  # accumulationBehaviour: energy per interval (1 would be a cumulative register reading)
MAX_INTERVAL_SECONDS = max(bounds.INTERVAL_LENGTHS) * 60


@dataclass
class _Feed:
    usage_points: dict[str, str] = field(default_factory=dict)  # href -> title
    meter_readings: dict[str, dict] = field(default_factory=dict)  # href -> {up, reading_type}
    reading_types: dict[str, dict] = field(default_factory=dict)  # href -> fields
    blocks: list[tuple[str, str | None, list[tuple[int, int, int, bool]]]] = field(default_factory=list)


def _links(entry) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for link in entry.findall(f"{ATOM}link"):
        out.setdefault(link.get("rel", ""), []).append(link.get("href", "").rstrip("/"))
    return out


def _int(element, path: str, default: int | None = None) -> int | None:
    found = element.find(path)
    if found is None or found.text is None or not found.text.strip():
        return default
    try:
        return int(found.text.strip())
    except ValueError:
        raise ParseError(f"Green Button: {path.replace(ESPI, '')} is not an integer: {found.text.strip()[:40]!r}") from None


def _readings(block) -> list[tuple[int, int, int, bool]]:
    out = []
    for reading in block.iter(f"{ESPI}IntervalReading"):
        start = _int(reading, f"{ESPI}timePeriod/{ESPI}start")
        duration = _int(reading, f"{ESPI}timePeriod/{ESPI}duration")
        value = _int(reading, f"{ESPI}value")
        if start is None or duration is None or value is None:
            raise ParseError("Green Button: an IntervalReading lacks its timePeriod start, duration or value")
        codes = {int(q.text) for q in reading.iter(f"{ESPI}quality") if q.text and q.text.strip().isdigit()}
        out.append((start, duration, value, bool(codes & ESTIMATED_QUALITIES)))  # any estimate code counts
    return out


def _collect(entry, feed: _Feed) -> None:
    content = entry.find(f"{ATOM}content")
    links = _links(entry)
    for resource in (list(content) if content is not None else []):  # some feeds put several in one
        _resource(entry, resource, links, feed)


def _resource(entry, resource, links: dict[str, list[str]], feed: _Feed) -> None:
    self_href = (links.get("self") or [""])[0]
    up = (links.get("up") or [None])[0]
    kind = resource.tag.replace(ESPI, "")
    if kind == "UsagePoint":
        title = entry.find(f"{ATOM}title")
        feed.usage_points[self_href] = (title.text or "").strip() if title is not None else ""
    elif kind == "MeterReading":
        types = [h for h in links.get("related", []) if "/ReadingType/" in h]
        feed.meter_readings[self_href] = {"up": up, "reading_type": types[0] if types else None}
    elif kind == "ReadingType":
        feed.reading_types[self_href] = {name: _int(resource, f"{ESPI}{name}") for name in (
            "uom", "powerOfTenMultiplier", "flowDirection", "intervalLength", "accumulationBehaviour", "kind")}
    elif kind == "IntervalBlock":
        feed.blocks.append((self_href, up, _readings(resource)))


def _read_feed(data: bytes) -> _Feed:
    feed = _Feed()
    try:
        # forbid_dtd: no DOCTYPE at all, so no entity can be declared, expanded or fetched
        for _, element in iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            if element.tag == f"{ATOM}entry":
                _collect(element, feed)
                element.clear()  # bounded memory: an entry at a time
    except DefusedXmlException as exc:
        raise ParseError(f"Green Button: refused unsafe XML ({type(exc).__name__}: DTDs and entities are "
                         "not accepted)") from None
    except XmlParseError as exc:
        raise ParseError(f"Green Button: not well-formed XML ({exc})") from None
    return feed


def _parent(href: str | None, collection: str) -> str | None:
    """``…/UsagePoint/1/MeterReading/01/IntervalBlock`` → ``…/UsagePoint/1/MeterReading/01``."""
    if not href:
        return None
    return href[: -len(collection) - 1] if href.endswith("/" + collection) else href.rsplit("/" + collection + "/", 1)[0]


def _usage_point_id(href: str) -> str:
    """The UsagePoint's id as a sidecar names it: the last part of its URL."""
    return href.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Binding:
    """Where a feed's readings belong: the ESIID and meter from the upload or sidecar file.
    ``usage_points`` maps a UsagePoint id (the last part of its URL) to its own (esiid, meter)."""

    esiid: str | None = None
    meter: str | None = None
    usage_points: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def parse(data: bytes, binding: Binding = Binding(), window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    feed = _read_feed(data)
    if not feed.blocks:
        raise ParseError("Green Button: the feed holds no IntervalBlock")
    rows, problems, skipped, read = _feed_rows(feed, binding)
    if not rows:
        raise ParseError("Green Button: no energy interval readings of 60 minutes or less (uom 72); "
                         + "; ".join(problems[:3]))
    if any(r[0] is None for r in rows):
        raise ParseError("Green Button: the feed names no ESIID; give one with the upload (esiid) or in a "
                         "sidecar file '<file name>.meta.json' holding {\"esiid\": \"…\", \"meter\": \"…\"}")
    frame = pd.DataFrame(rows, columns=["esiid", "meter", "channel", "ts", "interval_minutes", "kwh", "quality"])
    checks = _checked(frame, window)
    frame, repeats = _without_repeats(_typed(frame[~checks.invalid]), problems)
    return ParsedIntervals(kind=KIND, frame=typed_frame(frame), rows_read=read, rows_invalid=int(checks.invalid.sum()),
                           rows_skipped=skipped + repeats, problems=checks.messages + problems)


def _feed_rows(feed: _Feed, binding: Binding) -> tuple[list[tuple], list[str], int, int]:
    """(rows, problems, readings skipped, readings read) over every IntervalBlock: a block whose
    ReadingType is not energy per interval in Wh is skipped whole, with a reason."""
    # usage points with energy readings, told apart by their full URL (ids repeat across customers)
    points = sorted({_parent(m["up"], "MeterReading") or "" for m in feed.meter_readings.values()})
    rows, problems, skipped, read = [], [], 0, 0
    for block_href, up, readings in feed.blocks:
        read += len(readings)
        meter_reading = feed.meter_readings.get(_parent(up, "IntervalBlock") or "")
        rtype = feed.reading_types.get((meter_reading or {}).get("reading_type") or "")
        reason = _unusable(block_href, meter_reading, rtype)
        if reason:
            problems.append(reason)
            skipped += len(readings)
            continue
        esiid, meter = _series(_parent(meter_reading["up"], "MeterReading") or "", binding, len(points) > 1)
        block_rows = _block_rows(readings, esiid, meter, rtype)
        skipped += len(readings) - len(block_rows)
        rows += block_rows
    return rows, problems, skipped, read


def _unusable(block_href: str, meter_reading: dict | None, rtype: dict | None) -> str | None:
    """Why a block's readings are not energy intervals (None when they are)."""
    if meter_reading is None or rtype is None:
        return f"IntervalBlock {block_href.rsplit('/', 1)[-1]}: no MeterReading/ReadingType links to it"
    if rtype["accumulationBehaviour"] not in (None, DELTA_DATA):
        return (f"ReadingType accumulationBehaviour {rtype['accumulationBehaviour']}: register "
                "readings, not energy per interval; skipped")
    if rtype["uom"] != WH or FLOWS.get(rtype["flowDirection"] or 1) is None:
        return (f"ReadingType uom {rtype['uom']}, flowDirection {rtype['flowDirection']}: not energy "
                "in Wh delivered or received; skipped")
    return None


def _series(point: str, binding: Binding, several: bool) -> tuple[str | None, str | None]:
    """(esiid, meter) of a usage point's readings: its own binding, else the file's."""
    given = binding.usage_points.get(_usage_point_id(point), (None, None))
    esiid, meter = given[0] or binding.esiid, given[1] or binding.meter
    if several and not given[0] and not given[1]:  # usage points sharing one ESIID stay apart,
        # under a name that is the same in every file that holds the point
        meter = f"{meter or 'gb'}-up{hashlib.sha256(point.encode()).hexdigest()[:8]}"
    return esiid, meter


def _block_rows(readings, esiid: str | None, meter: str | None, rtype: dict) -> list[tuple]:
    """A block's readings as rows, in kWh; readings that are not interval lengths are left out."""
    scale = 10.0 ** (rtype["powerOfTenMultiplier"] or 0) / 1000.0
    channel = FLOWS[rtype["flowDirection"] or 1]
    rows = []
    for start, duration, value, quality in readings:
        if duration > MAX_INTERVAL_SECONDS or duration % 60 or duration // 60 not in bounds.INTERVAL_LENGTHS:
            continue  # daily/monthly bins and summaries are not intervals
        rows.append((esiid, meter or UNKNOWN_METER, channel, start, duration // 60, value * scale,
                     "estimated" if quality else "actual"))
    return rows


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame["ts_utc"] = pd.to_datetime(frame.pop("ts"), unit="s", utc=True)
    frame["kwh"] = frame["kwh"].round(9)
    frame["revised_at"] = pd.NaT
    return frame


def _without_repeats(frame: pd.DataFrame, problems: list[str]) -> tuple[pd.DataFrame, int]:
    """One reading per series and start: at one moment with two lengths (an hour and its first
    quarter) the finer reading is kept. Returns the frame and how many were dropped."""
    key = ["esiid", "meter", "channel", "ts_utc"]
    frame = frame.sort_values(key + ["interval_minutes"], kind="mergesort")
    dup = frame.duplicated(key, keep="first")
    clash = dup & ~frame.duplicated(key + ["interval_minutes", "kwh", "quality"], keep="first")
    if clash.any():
        problems.append(f"{int(clash.sum())} reading(s) share a start with another value (or length); the "
                        "finer, first one is kept")
    return frame[~dup], int(dup.sum())


def _checked(frame: pd.DataFrame, window: ReadingWindow) -> Problems:
    """Invalid readings: a meter id the API would refuse, energy that is negative or implausible,
    a start outside the reading window (compared as epoch seconds, before any datetime is made)."""
    checks = Problems(len(frame), numbered=False)
    check_meters(frame["meter"], checks)
    checks.flag(frame["kwh"] < 0, "negative energy")
    checks.flag(~(frame["kwh"] < bounds.MAX_INTERVAL_KWH), f"energy of {bounds.MAX_INTERVAL_KWH:,.0f} kWh or more "
                "in one interval")
    first, last = window.instants()
    checks.flag(frame["ts"] < first.timestamp(), window.early_reason("reading start"))
    checks.flag(frame["ts"] > last.timestamp(), window.late_reason("reading start"))
    return checks
