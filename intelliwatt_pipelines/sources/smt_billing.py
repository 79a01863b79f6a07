"""SMT meter reads: daily meter usage CSVs and monthly billing reads (energy-data JSON).

Neither layout is publicly documented, so columns (CSV) and fields (JSON) are mapped by the name
families of ``kinds.FAMILIES``. A file without a read date or a kWh column fails with the names it has.

Read periods become UTC instants of local (America/Chicago) midnights:
- one date (or start date = end date): that whole local day, [date 00:00, date+1 00:00);
- a start and a later end date: meter-read dates, [start 00:00, end 00:00). SMT's bill periods
  chain this way (one period's end date is the next one's start date), so no day counts twice.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intelliwatt_pipelines.kinds import FAMILIES, SMT_DAILY_READ, SMT_MONTHLY_JSON, field_of, mapping
from intelliwatt_pipelines.model import BILLING_COLUMNS, BILLING_KEY, CENTRAL_TZ, unsigned_zero
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedRows,
    Problems,
    ReadingWindow,
    check_esiids,
    check_meters,
    localize_central,
    parse_dates,
    read_csv_text,
)

# Bump on a change to how this module turns SMT meter reads into rows: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

SOURCE_DAILY = "smt_daily_csv"
SOURCE_MONTHLY = "smt_monthly_api"


QUALITIES = {"a": "actual", "actual": "actual", "e": "estimated", "estimated": "estimated", "": "actual"}
CHANNELS = {"": "consumption", "consumption": "consumption", "c": "consumption", "surplus generation": "generation",
            "generation": "generation", "g": "generation"}
DATE_FORMATS = ["%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y", "%Y%m%d", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
MAX_READ_KWH = 10_000_000.0  # a register read over a period; anything bigger is a typo
MAX_JSON_DEPTH = 8


@dataclass(kw_only=True)
class ParsedBillingReads(ParsedRows):
    """Meter reads (``model.BILLING_COLUMNS``), with the source they came from and the names no family knows."""

    source: str
    unmapped: list[str] = field(default_factory=list)


def _missing_error(what: str, fields: list[str], seen: list[str]) -> ParseError:
    tried = ", ".join(n for f in fields for n in FAMILIES[f][:4])
    return ParseError(f"{what}: cannot find the {' or '.join(fields)} column (names like {tried}); "
                      f"columns seen: {seen}")


def _local_midnight(days: pd.Series) -> pd.Series:
    idx = pd.DatetimeIndex(days.dt.normalize()).tz_localize(CENTRAL_TZ, ambiguous="NaT", nonexistent="NaT")
    return pd.Series(idx.tz_convert("UTC"), index=days.index).astype("datetime64[us, UTC]")


def _periods(raw: pd.DataFrame, cols: dict[str, str], problems: Problems,
             window: ReadingWindow) -> tuple[pd.Series, pd.Series]:
    """UTC [read_start, read_end) per row, from a day, a start/end pair, or a bill date."""
    def dates(fld):
        if fld not in cols:
            return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
        values = parse_dates(raw[cols[fld]], DATE_FORMATS).dt.normalize()
        problems.flag(values.isna() & raw[cols[fld]].ne(""), f"{cols[fld]} is not a date")
        return window.within(values, problems, cols[fld])

    start, end = dates("start"), dates("end")
    day = dates("day")
    if "day" not in cols and "end" not in cols:
        day = dates("bill_date")
    last = end.fillna(day)
    first = start.fillna(last)
    problems.flag(last.isna(), "read date missing")
    problems.flag(first > last, "read start date is after its end date")
    # one date, or start == end: the whole day; otherwise meter-read dates (end exclusive)
    stop = last.where(first < last, last + pd.Timedelta(days=1))
    return _local_midnight(first), _local_midnight(stop)


def _number(raw: pd.DataFrame, cols: dict[str, str], fld: str, problems: Problems) -> pd.Series:
    if fld not in cols:
        return pd.Series(np.nan, index=raw.index)
    text = raw[cols[fld]].str.replace(",", "", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    problems.flag(values.isna() & text.ne(""), f"{cols[fld]} is not a number")
    problems.flag(~np.isfinite(values.fillna(0)), f"{cols[fld]} is not finite")
    return unsigned_zero(values)


def _text(raw: pd.DataFrame, cols: dict[str, str], fld: str, default: str | None = None) -> pd.Series:
    if fld not in cols:
        return pd.Series(default, index=raw.index, dtype=object)
    return raw[cols[fld]].where(raw[cols[fld]].ne(""), default)


def _frame(raw: pd.DataFrame, cols: dict[str, str], *, esiid: str | None, meter: str | None,
           problems: Problems, window: ReadingWindow) -> pd.DataFrame:
    """Typed billing rows for the valid rows of ``raw`` (all cells strings)."""
    ids = _text(raw, cols, "esiid", esiid).fillna("").astype(str).str.lstrip("'")
    check_esiids(ids, problems)
    meters = _text(raw, cols, "meter", meter or UNKNOWN_METER).fillna(meter or UNKNOWN_METER)
    check_meters(meters, problems)
    read_start, read_end = _periods(raw, cols, problems, window)
    kwh = _number(raw, cols, "kwh_total", problems)
    problems.flag(kwh < 0, "kWh is negative")
    problems.flag(kwh > MAX_READ_KWH, f"kWh is over {MAX_READ_KWH:,.0f} for one read")
    billed = _number(raw, cols, "kwh_billed", problems)
    quality = _text(raw, cols, "quality", "").fillna("").str.lower().map(QUALITIES)
    problems.flag(quality.isna(), "quality is not A/E (actual/estimated)")
    channel = _text(raw, cols, "channel", "").fillna("").str.lower().map(CHANNELS)
    problems.flag(channel.isna(), "channel is not Consumption or Surplus Generation")
    revised = parse_dates(_text(raw, cols, "revised", "").fillna(""), DATE_FORMATS)
    problems.flag(revised.isna() & _text(raw, cols, "revised", "").fillna("").ne(""), "revision date is not a date")
    revised = window.within(revised, problems, "revision date")
    bill_date = parse_dates(_text(raw, cols, "bill_date", "").fillna(""), DATE_FORMATS)
    bill_date = window.within(bill_date, problems, "bill date").dt.date
    frame = pd.DataFrame({
        "esiid": ids, "meter": meters,
        "channel": channel, "read_start": read_start, "read_end": read_end,
        "bill_date": bill_date.where(bill_date.notna(), None), "kwh_total": kwh, "kwh_billed": billed,
        "start_reading": _number(raw, cols, "start_reading", problems),
        "end_reading": _number(raw, cols, "end_reading", problems),
        "tdsp_code": _text(raw, cols, "tdsp_code"), "tdsp_name": _text(raw, cols, "tdsp_name"),
        "quality": quality,
        # SMT revision stamps are Central clock times: in the repeated fall-back hour the first
        # (daylight) pass, as for intervals; one inside the spring-forward gap is moved on
        "revised_at": localize_central(revised, np.ones(len(raw), dtype=bool), "shift_forward"),
    })
    problems.flag(frame["read_start"].isna() | frame["read_end"].isna(), "read date is not a local day")
    return frame


def _finish(kind: str, source: str, frame: pd.DataFrame, problems: Problems, unmapped: list[str],
            n: int) -> ParsedBillingReads:
    blank = frame["kwh_total"].isna().to_numpy() & ~problems.invalid
    valid = frame[~problems.invalid & ~blank]
    # the same read twice: identical is skipped; different values at one revision is invalid
    exact = valid.duplicated(keep="first")
    key = BILLING_KEY + ["revised_at"]
    clash = valid.duplicated(key, keep=False) & ~valid.duplicated(keep=False)
    found = Problems(len(valid))
    found.flag(clash.to_numpy(), "read repeated with a different value", lines=valid.index.to_numpy() + 2)
    keep = ~found.invalid & ~exact.to_numpy()
    out = valid[keep].reset_index(drop=True)
    out["meter"] = out["meter"].astype(str)
    return ParsedBillingReads(
        kind=kind, source=source, frame=out[BILLING_COLUMNS], rows_read=n,
        rows_invalid=int(problems.invalid.sum() + found.invalid.sum()),
        rows_skipped=int(blank.sum() + exact.sum()), problems=problems.messages + found.messages,
        unmapped=unmapped)


def parse_daily(text: str, *, esiid: str | None = None, meter: str | None = None,
                window: ReadingWindow = ReadingWindow()) -> ParsedBillingReads:
    """A daily meter usage CSV (one read per row: a day, or a start and end date)."""
    raw = read_csv_text(text)
    seen = _header_names(text, [str(c) for c in raw.columns])
    raw.columns = seen
    cols, unmapped = mapping(seen)
    if not {"day", "end", "bill_date"} & set(cols):
        raise _missing_error("daily meter usage file", ["day", "end"], seen)
    if "kwh_total" not in cols:
        raise _missing_error("daily meter usage file", ["kwh_total"], seen)
    if "esiid" not in cols and not esiid:
        raise ParseError(f"daily meter usage file: no ESIID column and none given with the file; columns seen: {seen}")
    problems = Problems(len(raw))
    frame = _frame(raw, cols, esiid=esiid, meter=meter, problems=problems, window=window)
    return _finish(SMT_DAILY_READ, SOURCE_DAILY, frame, problems, unmapped, len(raw))


def _header_names(text: str, parsed: list[str]) -> list[str]:
    """The header's names as written (for messages); read_csv_text lower-cases them."""
    names = [name.strip() for name in next(csv.reader([text.split("\n", 1)[0].strip("\r")]), [])]
    return names if len(names) == len(parsed) and len(set(names)) == len(names) else parsed


def _records(node, inherited: dict, depth: int = 0):
    """(record, inherited fields) for every JSON object that carries a kWh and a read date."""
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _records(item, inherited, depth + 1)
    elif isinstance(node, dict):
        scalars = {k: v for k, v in node.items() if not isinstance(v, (dict, list))}
        found, _ = mapping(list(scalars))
        if "kwh_total" in found and {"day", "end", "start", "bill_date"} & set(found):
            yield scalars, inherited
            return
        context = {**inherited, **{k: v for k, v in scalars.items() if field_of(k) in ("esiid", "meter")}}
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from _records(value, context, depth + 1)


def parse_monthly_json(text: str, *, esiid: str | None = None, meter: str | None = None,
                       window: ReadingWindow = ReadingWindow()) -> ParsedBillingReads:
    """Monthly billing reads from an SMT energy-data JSON response (records found by their fields)."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"billing JSON is not valid JSON: {exc}") from None
    pairs = list(_records(doc, {}))
    if not pairs:
        keys = sorted(doc)[:30] if isinstance(doc, dict) else type(doc).__name__
        raise ParseError("billing JSON holds no read records (objects with a kWh and a start/end or read "
                         f"date field); top-level keys: {keys}")
    rows = [{**ctx, **rec} for rec, ctx in pairs]
    raw = pd.DataFrame(rows).astype(object)
    raw = raw.where(raw.notna(), "").astype(str).apply(lambda s: s.str.strip())
    seen = [str(c) for c in raw.columns]
    cols, unmapped = mapping(seen)
    if "esiid" not in cols and not esiid:
        raise ParseError(f"billing JSON: no ESIID field and none given with the file; fields seen: {seen}")
    problems = Problems(len(raw))
    frame = _frame(raw, cols, esiid=esiid, meter=meter, problems=problems, window=window)
    return _finish(SMT_MONTHLY_JSON, SOURCE_MONTHLY, frame, problems, unmapped, len(raw))
