"""SparkMeter ThunderCloud history files (vendor-apis.md §3.1 4): the daily parquet files of
``/history/download/{filename}``, as interval energy or as cumulative register reads.

ASSUMPTION, to be checked against a real file: ThunderCloud's parquet columns are not documented publicly,
so columns are found by name families (case and surrounding blanks ignored; the first name of a family that
is present wins):

- meter serial: ``serial``, ``meter_serial``, ``meter_serial_number``, ``serial_number``, ``meter``
- customer code (the account, checked by the market's rule; 1PWR ``0005MAK``): ``customer_code``, ``code``,
  ``customer``
- time: ``timestamp``, ``time``, ``reading_timestamp``, ``datetime``; a parquet timestamp or ISO 8601 text,
  naive = UTC as ThunderCloud's own import reads it; taken as the start of the interval
- EITHER interval energy: ``kilowatt_hours``, ``kwh``, ``energy_kwh`` -> ``ParsedIntervals`` (quality
  ``actual``; the interval length is each meter's median spacing and must be one of
  ``bounds.INTERVAL_LENGTHS``; a meter with a single time takes the file's median; source ``thundercloud``
  through ``detect.USAGE_SOURCES``)
- OR a cumulative register: ``total_cycle_energy``, ``register_kwh`` -> ``ParsedRegisterReads`` (source
  ``thundercloud``), turned into intervals by ingest like the customers snapshot (``sources.thundercloud``).

With both energy families present the interval energy is used (measured, not derived). Any other layout is a
ParseError naming the columns found and the families tried. A row without an energy value is skipped (no
reading); invalid rows are counted with their reasons, never with the account number in them. Pure.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from intelliwatt_pipelines import bounds, kinds, markets
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    ParsedIntervals,
    ParsedRegisterReads,
    Problems,
    ReadingWindow,
    check_kwh,
    check_meters,
)
from intelliwatt_pipelines.sources.onepwr_common import (
    check_register,
    check_service_points,
    parsed_registers,
    split_repeats,
    utc_instants,
)

KIND = kinds.THUNDERCLOUD_HISTORY_PARQUET
SOURCE = "thundercloud"
# Bump on a change to how history files become rows (defs/versions.py shows assets "Unsynced").
PARSER_VERSION = "1"
CHANNEL = "consumption"

# family -> accepted column names, most specific first (see the module's assumption)
FAMILIES: dict[str, tuple[str, ...]] = {
    "meter": ("serial", "meter_serial", "meter_serial_number", "serial_number", "meter"),
    "code": ("customer_code", "code", "customer"),
    "time": ("timestamp", "time", "reading_timestamp", "datetime"),
    "interval": ("kilowatt_hours", "kwh", "energy_kwh"),
    "register": ("total_cycle_energy", "register_kwh"),
}
REQUIRED = ("meter", "code", "time")
ENERGY = ("interval", "register")  # the first present decides the layout
SHOWN_COLUMNS = 30  # columns named in a layout error


class LayoutError(ParseError):
    """A parquet file whose columns match no layout this parser knows."""


def columns_of(names: list[str]) -> dict[str, str]:
    """{family: column name} of the families present among ``names``."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(str(name).strip().lower(), name)
    found = {}
    for family, candidates in FAMILIES.items():
        hit = next((by_key[c] for c in candidates if c in by_key), None)
        if hit is not None:
            found[family] = hit
    return found


def layout(names: list[str]) -> tuple[str, dict[str, str]]:
    """(``interval`` or ``register``, {family: column}); LayoutError naming what was found and tried."""
    found = columns_of(names)
    energy = next((family for family in ENERGY if family in found), None)
    if energy is None or any(family not in found for family in REQUIRED):
        shown = ", ".join(map(str, names[:SHOWN_COLUMNS])) + (", …" if len(names) > SHOWN_COLUMNS else "")
        tried = "; ".join(f"{family}: {', '.join(names_)}" for family, names_ in FAMILIES.items())
        raise LayoutError(f"ThunderCloud history parquet of an unknown layout: columns found [{shown or 'none'}]; "
                          f"needs meter, code and time and one of interval or register; families tried: {tried}")
    return energy, found


def _read(data: bytes) -> tuple[str, dict[str, str], pa.Table]:
    try:
        file = pq.ParquetFile(io.BytesIO(data))
        names = file.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ParseError(f"not a readable parquet file ({type(exc).__name__}: {exc})") from None
    energy, cols = layout(names)
    wanted = [cols[family] for family in (*REQUIRED, energy)]
    try:  # only the columns used: a wide file costs no more than a narrow one
        return energy, cols, file.read(columns=wanted)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ParseError(f"parquet file could not be read ({type(exc).__name__}: {exc})") from None


def _text(column: pa.ChunkedArray) -> pd.Series:
    """Cells as stripped text, '' for nulls (ids may be stored as numbers)."""
    values = pd.Series(column.to_pandas()).astype(object)
    return values.where(values.notna(), "").astype(str).str.strip()


def _instants(column: pa.ChunkedArray) -> pd.Series:
    """UTC instants: a parquet timestamp (naive = UTC) or ISO 8601 text; anything else NaT."""
    if pa.types.is_timestamp(column.type):
        return pd.to_datetime(pd.Series(column.to_pandas()), utc=True).astype("datetime64[us, UTC]")
    return utc_instants(_text(column))


def _rows(data: bytes) -> tuple[str, dict[str, str], pd.DataFrame]:
    energy, cols, table = _read(data)
    raw = pd.DataFrame({"esiid": _text(table[cols["code"]]), "meter": _text(table[cols["meter"]]),
                        "ts_utc": _instants(table[cols["time"]]), "value": _text(table[cols[energy]])})
    return energy, cols, raw


def _checked(raw: pd.DataFrame, cols: dict[str, str], window: ReadingWindow,
             market: markets.Market | None) -> tuple[Problems, pd.Series]:
    """Problems of the ids and times every layout shares; the times, NaT outside the window."""
    problems = Problems(len(raw), numbered=False)
    problems.flag(raw["esiid"].eq("").to_numpy(), f"{cols['code']} is missing")
    check_service_points(raw["esiid"], problems, cols["code"], market)
    problems.flag(raw["meter"].eq("").to_numpy(), f"{cols['meter']} is missing")
    check_meters(raw["meter"], problems)
    problems.flag(raw["ts_utc"].isna().to_numpy(), f"{cols['time']} is not a timestamp (parquet or ISO 8601)")
    return problems, window.within(raw["ts_utc"], problems, cols["time"])


def interval_lengths(frame: pd.DataFrame) -> np.ndarray:
    """Minutes per row: its meter's median spacing between its distinct times, the file's median for a meter
    with one time, NaN when the file has none. By serial alone, and rows without energy or with a bad account
    count: their times are still the meter's clock."""
    valid = frame.loc[frame["ts_utc"].notna(), ["meter", "ts_utc"]].drop_duplicates().sort_values(["meter", "ts_utc"])
    valid = valid.assign(gap=valid.groupby("meter", sort=False)["ts_utc"].diff().dt.total_seconds() / 60)
    minutes = frame["meter"].map(valid.groupby("meter")["gap"].median()).to_numpy(dtype=float)
    return np.where(np.isnan(minutes), valid["gap"].median(), minutes)


def _flag_lengths(frame: pd.DataFrame, minutes: np.ndarray, problems: Problems, time_column: str) -> np.ndarray:
    """The rows' interval lengths, rows flagged where none is known, it is not allowed or off its grid."""
    allowed = np.isin(minutes, bounds.INTERVAL_LENGTHS)
    problems.flag(np.isnan(minutes), "interval length unknown: one reading per meter in the file")
    problems.flag(~np.isnan(minutes) & ~allowed, "median spacing of the meter's readings is not "
                  f"{', '.join(map(str, bounds.INTERVAL_LENGTHS))} minutes")
    seconds = (frame["ts_utc"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().fillna(0).to_numpy()
    off_grid = allowed & (np.mod(seconds, np.where(allowed, minutes, 1) * 60) != 0)
    problems.flag(off_grid, f"{time_column} is not on the meter's interval grid")
    return np.where(allowed, minutes, 0).astype("int64")


def _intervals(raw: pd.DataFrame, cols: dict[str, str], window: ReadingWindow,
               market: markets.Market | None) -> ParsedIntervals:
    blank = raw["value"].eq("").to_numpy()
    lengths, raw, skipped = interval_lengths(raw)[~blank], raw[~blank].reset_index(drop=True), int(blank.sum())
    problems, ts = _checked(raw, cols, window, market)
    kwh = check_kwh(raw["value"], problems)
    minutes = _flag_lengths(raw.assign(ts_utc=ts), lengths, problems, cols["time"])
    out = pd.DataFrame({"esiid": raw["esiid"], "meter": raw["meter"], "channel": CHANNEL, "ts_utc": ts,
                        "interval_minutes": minutes, "kwh": kwh, "quality": "actual",
                        "revised_at": pd.NaT})[~problems.invalid]
    out, clashes, repeats, reasons = split_repeats(out, ["esiid", "meter", "channel", "ts_utc"])
    return ParsedIntervals(kind=KIND, frame=typed_frame(out), rows_read=len(raw) + skipped,
                           rows_invalid=int(problems.invalid.sum()) + clashes, rows_skipped=skipped + repeats,
                           problems=problems.messages + reasons)


def _registers(raw: pd.DataFrame, cols: dict[str, str], window: ReadingWindow,
               market: markets.Market | None) -> ParsedRegisterReads:
    blank = raw["value"].eq("").to_numpy()
    raw, skipped = raw[~blank].reset_index(drop=True), int(blank.sum())
    problems, ts = _checked(raw, cols, window, market)
    kwh = pd.to_numeric(raw["value"], errors="coerce")
    check_register(kwh, problems, cols["register"])
    out = raw.assign(ts_utc=ts, register_kwh=kwh)[~problems.invalid]
    return parsed_registers(out, problems, kind=KIND, source=SOURCE, rows_read=len(raw) + skipped, skipped=skipped)


def parse(data: bytes, *, window: ReadingWindow = ReadingWindow(),
          market: markets.Market | None = None) -> ParsedIntervals | ParsedRegisterReads:
    """One history file: intervals (an energy column) or register reads (a register column), by its columns."""
    energy, cols, raw = _rows(data)
    parse_layout = _intervals if energy == "interval" else _registers
    return parse_layout(raw, cols, window, market)
