"""What the 1PWR parsers (vendor-apis.md §3: 1Meter IoT, Koios, ThunderCloud, the meter registry) share:
JSON loading, the market's service point rule, canonical meter ids, UTC stamps, repeats and the typed
register read frame. Pure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.model import by_unique
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import REGISTER_READ_COLUMNS, ParsedRegisterReads, Problems
from intelliwatt_pipelines.sources.onepwr_ids import IdentityError, onemeter_id


def load_json(text: str, what: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"{what} is not valid JSON: {exc}") from None


def text_of(value) -> str:
    """A JSON scalar as stripped text ('' for null, objects and lists: nothing usable there)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def canonical_meter(text: str) -> str:
    """1Meter ids unpadded (``000023022628`` -> ``23022628``); other meters (SparkMeter serials) as given."""
    try:
        return onemeter_id(text)
    except IdentityError:
        return text.strip()


def check_service_points(values: pd.Series, problems: Problems, what: str,
                         market: markets.Market | None = None) -> None:
    """Ids by the deployment's market rule (1PWR: NNNNSSS accounts); never the value in the reason (PII)."""
    market = market or markets.active()
    ok = by_unique(values.astype(str), lambda s: s.str.fullmatch(market.identity.pattern)).astype(bool)
    problems.flag(~ok.to_numpy(), f"{what} is not {market.identity_rule} ({market.key} market)")


def utc_instants(values: pd.Series) -> pd.Series:
    """ISO 8601 stamps as UTC instants: an offset is honoured, none means UTC (as the vendors document);
    anything else is NaT for the caller to flag."""
    uniq = pd.Series(values.unique())
    parsed = pd.to_datetime(uniq, format="ISO8601", utc=True, errors="coerce")
    return values.map(dict(zip(uniq, parsed, strict=True))).astype("datetime64[us, UTC]")


def split_repeats(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int, int, list[str]]:
    """One row per key: an exact repeat is skipped, a repeat with another value is invalid (the first is
    kept). Returns (frame, invalid, skipped, reasons)."""
    repeat = frame.duplicated(keys, keep="first").to_numpy()
    exact = frame.duplicated(keep="first").to_numpy()
    found = Problems(len(frame), numbered=False)
    found.flag(repeat & ~exact, f"repeated ({', '.join(keys)}) with a different value")
    return frame[~repeat], int((repeat & ~exact).sum()), int(exact.sum()), found.messages


def register_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``REGISTER_READ_COLUMNS`` with their dtypes: ids as str, UTC instants, kWh as float."""
    out = pd.DataFrame({
        "esiid": rows["esiid"].astype(str), "meter": rows["meter"].astype(str),
        "ts_utc": pd.to_datetime(rows["ts_utc"], utc=True).astype("datetime64[us, UTC]"),
        "register_kwh": rows["register_kwh"].astype("float64"),
    })
    return out[REGISTER_READ_COLUMNS].sort_values(["esiid", "meter", "ts_utc"], kind="mergesort").reset_index(drop=True)


def check_register(kwh: pd.Series, problems: Problems, what: str) -> None:
    """A cumulative register is a finite, non-negative number of kWh."""
    problems.flag(kwh.isna().to_numpy(), f"{what} is not a kWh value")
    values = kwh.fillna(0).to_numpy(dtype=float)
    problems.flag(~np.isfinite(values), f"{what} is not finite")
    problems.flag(values < 0, f"{what} is negative")


def parsed_registers(rows: pd.DataFrame, problems: Problems, *, kind: str, source: str, rows_read: int,
                     skipped: int = 0, invalid: int | None = None, notes: list[str] | None = None) -> ParsedRegisterReads:
    """The valid register ``rows`` (one per meter and instant: repeats split off) with the counts and reasons;
    ``invalid`` overrides the rows ``problems`` marked (a parser that marks rows it skips)."""
    keys = ["esiid", "meter", "ts_utc"]
    rows = rows[[*keys, "register_kwh"]]
    exact = rows.duplicated(keep="first").to_numpy()  # exact repeats: skipped
    rows, repeats = rows[~exact], int(exact.sum())
    # Two different reads of one instant (the meter reports to the minute, the Lambda keeps every reading):
    # a register only rises, so the higher is the later one; the other is skipped and the file still lands.
    ordered = rows.sort_values("register_kwh", kind="stable")
    same = ordered.duplicated(keys, keep="last").to_numpy()
    rows = ordered[~same].sort_index()
    notes = list(notes or []) + ([f"{int(same.sum())} read(s) of an instant that has a higher read too: "
                                  "the higher kept"] if same.any() else [])
    flagged = int(problems.invalid.sum()) if invalid is None else invalid
    return ParsedRegisterReads(kind=kind, frame=register_frame(rows), rows_read=rows_read, rows_invalid=flagged,
                               rows_skipped=skipped + repeats + int(same.sum()), problems=problems.messages,
                               notes=notes, source=source)
