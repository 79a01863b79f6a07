"""The typed interval frame every usage parser returns, and helpers shared by the parsers."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intelliwatt_pipelines import bounds, markets, pii
from intelliwatt_pipelines.model import CENTRAL_TZ, by_unique
from intelliwatt_pipelines.sources.errors import ParseError

SERIES_COLUMNS = ["esiid", "meter", "channel"]
UNKNOWN_METER = "unknown"
# The pattern as a person reads it in a reason (no regex escapes).
METER_RULE = bounds.METER_PATTERN.replace("\\", "")


@dataclass(frozen=True)
class ReadingWindow:
    """Which reading times a file may carry: Central local times from ``floor`` to now plus
    ``future_days``, and no series (esiid, meter, channel) spanning more than ``max_span_days``
    local days in one file. Rows outside are invalid rows; a longer span fails the whole file, so
    one small file can never cost work in proportion to the calendar (placeholders, completeness)."""

    floor: dt.date | str = bounds.READING_FLOOR
    future_days: int = bounds.READING_FUTURE_DAYS
    max_span_days: int = bounds.MAX_SPAN_DAYS

    def __post_init__(self) -> None:
        if isinstance(self.floor, str):
            object.__setattr__(self, "floor", dt.date.fromisoformat(self.floor))

    @classmethod
    def from_settings(cls, settings) -> "ReadingWindow":
        return cls(settings.reading_floor, settings.reading_future_days, settings.max_span_days)

    def latest_local(self) -> pd.Timestamp:
        """The latest acceptable reading time, as a naive Central clock time."""
        now = pd.Timestamp.now(tz=markets.local_tz()).tz_localize(None)
        return now + pd.Timedelta(days=self.future_days)

    def instants(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[floor's Central midnight, now + future_days] as UTC instants."""
        first = pd.Timestamp(self.floor).tz_localize(markets.local_tz()).tz_convert("UTC")
        return first, pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=self.future_days)

    def within(self, values: pd.Series, problems: "Problems", what: str) -> pd.Series:
        """Flag times outside the window (naive values are Central clock times, aware ones
        instants) and return ``values`` with those set to NaT, so no later arithmetic meets them."""
        local = values.dt.tz_convert(markets.local_tz()).dt.tz_localize(None) if values.dt.tz is not None else values
        early, late = local < pd.Timestamp(self.floor), local > self.latest_local()
        problems.flag(early, self.early_reason(what))
        problems.flag(late, self.late_reason(what))
        return values.where(~(early | late))

    def early_reason(self, what: str) -> str:
        return f"{what} is before {self.floor}"

    def late_reason(self, what: str) -> str:
        return f"{what} is later than now + {self.future_days} day(s)"


class SpanTracker:
    """Each series' first and last Central local day over one file, whole or chunk by chunk:
    ParseError as soon as one spans more than the window's ``max_span_days``."""

    def __init__(self, window: ReadingWindow) -> None:
        self.window = window
        self.days: dict[tuple, tuple[dt.date, dt.date]] = {}

    def add(self, frame: pd.DataFrame, first: str = "ts_utc", last: str = "ts_utc") -> None:
        """``first``/``last``: the frame's columns of UTC instants on each row's first and last day."""
        if frame.empty:
            return
        spans = frame.groupby(SERIES_COLUMNS, sort=False).agg(lo=(first, "min"), hi=(last, "max"))
        for key, lo, hi in zip(spans.index, spans["lo"], spans["hi"], strict=True):
            lo, hi = (ts.tz_convert(markets.local_tz()).date() for ts in (lo, hi))
            seen = self.days.get(key)
            lo, hi = (min(lo, seen[0]), max(hi, seen[1])) if seen else (lo, hi)
            self.days[key] = (lo, hi)
            days = (hi - lo).days + 1
            if days > self.window.max_span_days:
                raise ParseError(
                    f"series {pii.mask(key[0])} (meter {key[1]}, {key[2]}) spans {lo}..{hi} ({days:,} days), more "
                    f"than INTELLIWATT_MAX_SPAN_DAYS={self.window.max_span_days}: the file is refused whole")


@dataclass
class ParsedRows:
    """What a parser returns: the valid rows as a typed frame, and counts of the rest with reasons."""

    kind: str
    frame: pd.DataFrame
    rows_read: int
    rows_invalid: int = 0
    rows_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped rows worth reporting although none is invalid

    @property
    def rows_valid(self) -> int:
        return len(self.frame)


@dataclass
class ParsedIntervals(ParsedRows):
    """Interval readings (``model.INTERVAL_COLUMNS``)."""


REGISTER_READ_COLUMNS = ["esiid", "meter", "ts_utc", "register_kwh"]


@dataclass
class ParsedRegisterReads(ParsedRows):
    """Cumulative register reads (``REGISTER_READ_COLUMNS``: service point, meter, UTC instant, kWh):
    ingest stores them and turns consecutive reads of a meter into intervals (``sources.registers``),
    across files too. ``source`` is the vendor source the derived intervals carry."""

    source: str = ""


METER_ROLE_COLUMNS = ["esiid", "meter", "role"]
METER_ROLES = ("primary", "check", "backup")


@dataclass
class ParsedMeterRoles(ParsedRows):
    """Which meters measure a service point and in which role (``METER_ROLE_COLUMNS``, role in
    ``METER_ROLES``): check meters are stored as meters of their own but left out of the customer's totals."""


def decode_text(data: bytes) -> str:
    """Vendor CSVs are UTF-8 (sometimes with a BOM). Anything else is not a usage file."""
    if b"\x00" in data[:65536]:
        raise ParseError("file is binary (contains NUL bytes), not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"file is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None
    if not text.strip():
        raise ParseError("file is empty")
    return text


CSV_OPTIONS = dict(dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False)
CSV_ERRORS = (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError)


def read_csv_text(text: str) -> pd.DataFrame:
    """All cells as stripped strings, header names lower-cased; malformed CSV is a ParseError."""
    try:
        with warnings.catch_warnings():
            # pandas warns, then drops cells, when a row has more fields than the header: refuse.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), **CSV_OPTIONS)
    except CSV_ERRORS as exc:
        raise ParseError(f"malformed CSV: {exc}".strip()) from None
    return clean_cells(raw)


def read_csv_chunks(stream, rows: int):
    """``read_csv_text`` over a text stream, ``rows`` rows at a time (row index continues across
    chunks). Malformed CSV and text that is not UTF-8 are ParseErrors, wherever they are met."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for chunk in pd.read_csv(stream, chunksize=rows, **CSV_OPTIONS):
                yield clean_cells(chunk)
    except UnicodeDecodeError as exc:
        raise ParseError(f"file is not UTF-8 text (byte {exc.start} of a block: {exc.object[exc.start:exc.start + 1]!r})") \
            from None
    except CSV_ERRORS as exc:
        raise ParseError(f"malformed CSV: {exc}".strip()) from None


def clean_cells(raw: pd.DataFrame) -> pd.DataFrame:
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    for col in raw.columns:
        raw[col] = by_unique(raw[col], lambda s: s.str.strip())
    return raw


class Problems:
    """Collects invalid-row reasons: a count per reason and the first few line numbers."""

    def __init__(self, n: int, lines: np.ndarray | None = None, *, numbered: bool = True) -> None:
        self.invalid = np.zeros(n, dtype=bool)
        self.messages: list[str] = []
        self.lines = lines  # file line number of each row (default: the header is line 1)
        self.numbered = numbered  # False: rows have no line (XML readings), reasons give counts only

    def flag(self, mask: np.ndarray | pd.Series, reason: str, *, lines: np.ndarray | None = None) -> None:
        """Mark rows invalid. ``lines`` maps row positions to file line numbers."""
        mask = np.asarray(mask, dtype=bool) & ~self.invalid
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.invalid |= mask
        if not self.numbered:
            self.messages.append(f"{reason}: {len(rows)} reading(s)")
            return
        lines = self.lines if lines is None else lines
        numbers = (rows + 2) if lines is None else lines[rows]
        shown = ", ".join(str(n) for n in numbers[:5])
        more = "" if len(rows) <= 5 else f" and {len(rows) - 5} more"
        self.messages.append(f"{reason}: {len(rows)} row(s), line {shown}{more}")


def localize_central(local: pd.Series, dst_first: np.ndarray, nonexistent: str = "NaT") -> pd.Series:
    """Local Central clock times to UTC instants.

    ``dst_first`` says, for each row, whether an ambiguous (fall-back) time is its first, daylight
    pass. Times that do not exist (the spring-forward gap) become NaT unless ``nonexistent`` says
    otherwise.
    """
    idx = pd.DatetimeIndex(local)
    aware = idx.tz_localize(CENTRAL_TZ, ambiguous=np.asarray(dst_first, dtype=bool), nonexistent=nonexistent)
    return pd.Series(aware.tz_convert("UTC"), index=local.index)


def parse_dates(values: pd.Series, formats: list[str]) -> pd.Series:
    """Parse with the first matching format, over unique values only (files repeat them). Unparseable
    values are NaT; which dates are plausible is the caller's ``ReadingWindow.within``."""
    uniq = pd.Series(values.unique())
    parsed = pd.Series(pd.NaT, index=uniq.index, dtype="datetime64[us]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(uniq[todo], format=fmt, errors="coerce")
    return values.map(dict(zip(uniq, parsed, strict=True))).astype("datetime64[us]")


def check_esiids(esiid: pd.Series, problems: Problems) -> None:
    """Service point ids by the deployment's market rule (Texas: 17/22-digit ESIIDs)."""
    market = markets.active()
    problems.flag(~by_unique(esiid, lambda s: s.str.fullmatch(market.identity.pattern)).astype(bool),
                  f"{market.identity_name} is not {market.identity_rule}")


def check_meters(meter: pd.Series, problems: Problems) -> None:
    """Meter ids are what the API's meter filter accepts: nothing a spreadsheet reads as a formula."""
    ok = by_unique(meter.astype(str), lambda s: s.str.fullmatch(bounds.METER_PATTERN)).astype(bool)
    problems.flag(~ok.to_numpy(), f"meter id is not {METER_RULE}")


def check_kwh(raw: pd.Series, problems: Problems) -> pd.Series:
    """Numeric, finite, plausible, non-negative kWh. Blank cells stay NaN for the caller to decide."""
    kwh = pd.to_numeric(raw, errors="coerce")
    blank = raw.eq("")
    problems.flag(kwh.isna() & ~blank, "kWh is not a number")
    problems.flag(kwh.notna() & ~np.isfinite(kwh.fillna(0)), "kWh is not finite")
    problems.flag(kwh < 0, "kWh is negative")
    problems.flag(kwh >= bounds.MAX_INTERVAL_KWH, f"kWh is {bounds.MAX_INTERVAL_KWH:,.0f} or more for one interval")
    return kwh


def occurrence(df: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """0 for the first row with these key values in file order, 1 for the second, and so on."""
    return df.groupby(keys, sort=False).cumcount().to_numpy()
