"""1PWR 1Meter (IoT) readings (vendor-apis.md §3.1 1) as cumulative register reads.

Two shapes of one reading, both JSON arrays: the S3 backup records (``meterId`` 12-digit zero-padded,
``Time``, ``EnergyActive`` unit-embedded as ``"3.01 kWh"``) and the ingest API's ``MeterReading`` payloads
(``meter_id``, ``timestamp``, ``energy_active`` as a kWh float). ``Time``/``timestamp`` is ``YYYYMMDDHHMM``
on the meter's wall clock, in the market's time zone (Lesotho: Africa/Maseru, UTC+2, no DST).

The register is ``EnergyActive``: non-volatile, 0.01 kWh steps. ``EnergyIntegrated`` is never read: it
restarts at 0 whenever the ESP32 reboots, so its deltas invent resets (1PWR's later ``ingest.py`` went
back to ``energy_active`` for that reason). A reading carries no account: ``usage_points`` (from the
meter registry) maps the canonical meter id to (account, meter); a meter it does not know is skipped
(counted, named), not invalid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedRegisterReads, Problems, ReadingWindow, check_meters
from intelliwatt_pipelines.sources.onepwr_common import (
    canonical_meter,
    check_register,
    check_service_points,
    load_json,
    parsed_registers,
    text_of,
)
from intelliwatt_pipelines.sources.onepwr_ids import ONEMETER_RE
from intelliwatt_pipelines.sources.registers import QuantityError, parse_quantity

KIND = kinds.ONEPWR_IOT_JSON
SOURCE = "onepwr_iot"
# Bump on a change to how readings become register reads (defs/versions.py shows assets "Unsynced").
PARSER_VERSION = "1"
METER_KEYS = ("meterId", "meter_id")  # S3 backup, API payload
TIME_KEYS = ("Time", "timestamp")
REGISTER_KEYS = ("EnergyActive", "energy_active")
TIME_FORMAT = "%Y%m%d%H%M"
UsagePoints = dict[str, tuple[str, str | None]]


def _first(record: dict, keys: tuple[str, ...]):
    return next((record[k] for k in keys if record.get(k) is not None), None)


def _register(value) -> float:
    """kWh from ``"3.01 kWh"`` / ``"3010 Wh"`` / ``3.01``; NaN when it is none of those."""
    if value is None or isinstance(value, bool | dict | list):
        return np.nan
    try:
        return parse_quantity(value)
    except QuantityError:
        return np.nan


def _records(text: str) -> pd.DataFrame:
    """One row per array item: is_object, meter id, local time, register (raw and in kWh)."""
    doc = load_json(text, "1Meter IoT JSON")
    if not isinstance(doc, list):
        raise ParseError("1Meter IoT JSON is not an array of readings")
    rows = [(True, text_of(_first(r, METER_KEYS)), text_of(_first(r, TIME_KEYS)), _first(r, REGISTER_KEYS))
            if isinstance(r, dict) else (False, "", "", None) for r in doc]
    frame = pd.DataFrame(rows, columns=["is_object", "meter_raw", "time", "register_raw"])
    frame["register_kwh"] = [_register(v) for v in frame["register_raw"]]
    return frame


def _utc(local_text: pd.Series, market: markets.Market) -> pd.Series:
    """``YYYYMMDDHHMM`` wall-clock times in the market's zone as UTC instants (NaT when not one)."""
    well_formed = local_text.str.fullmatch(r"[0-9]{12}")
    local = pd.to_datetime(local_text.where(well_formed), format=TIME_FORMAT, errors="coerce")
    aware = pd.DatetimeIndex(local).tz_localize(market.timezone, ambiguous="NaT", nonexistent="NaT")
    return pd.Series(aware.tz_convert("UTC"), index=local_text.index).astype("datetime64[us, UTC]")


def _bound(meter: pd.Series, usage_points: UsagePoints, problems: Problems,
           notes: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(account, meter, unregistered) of each reading from the registry. A meter the registry does not hold
    (a customer not yet assigned, a repeater) is skipped with its name and count: not a defect of the file,
    so the meters it does hold still land, and its readings stay in the raw file for a reprocess once it is
    registered. Meter ids are not personal; accounts are, so no reason shows one."""
    points = {canonical_meter(str(k)): v for k, v in usage_points.items()}
    unregistered = ~meter.isin(list(points)) & ~pd.Series(problems.invalid, index=meter.index)
    for name in sorted(set(meter[unregistered])):
        count = int(meter[unregistered].eq(name).sum())
        notes.append(f"meter {name} is not registered to an account (meter registry): {count} "
                                 "reading(s) skipped, kept in the raw file (reprocess it once the meter is registered)")
    pair = meter.map(lambda m: points.get(m) or ("", None))
    account = pair.map(lambda p: str(p[0] or ""))
    named = pd.Series([p[1] or m for p, m in zip(pair, meter, strict=True)], index=meter.index, dtype=str)
    problems.invalid |= unregistered.to_numpy()  # out of the later checks: skipped, not invalid (see parse)
    return account, named, unregistered


def parse(text: str, *, usage_points: UsagePoints | None = None, window: ReadingWindow = ReadingWindow(),
          market: markets.Market | None = None) -> ParsedRegisterReads:
    """A JSON array of 1Meter readings; ``usage_points`` maps canonical meter ids to (account, meter)."""
    market = market or markets.active()
    records = _records(text)
    problems = Problems(len(records), numbered=False)
    problems.flag(~records["is_object"].to_numpy(dtype=bool), "reading is not an object")
    valid_id = records["meter_raw"].str.fullmatch(ONEMETER_RE.pattern).to_numpy(dtype=bool)
    problems.flag(~valid_id, "meterId is not a 1Meter id (8 digits, or 12 zero-padded)")
    meter = records["meter_raw"].map(canonical_meter)
    ts = _utc(records["time"], market)
    problems.flag(ts.isna().to_numpy(), f"Time is not YYYYMMDDHHMM on a {market.timezone} clock")
    problems.flag(records["register_raw"].isna().to_numpy(),
                  "no EnergyActive register (EnergyIntegrated is not used: it resets on reboot)")
    check_register(records["register_kwh"], problems, "EnergyActive")
    notes: list[str] = []
    account, named, unregistered = _bound(meter, usage_points or {}, problems, notes)
    check_service_points(account, problems, "account of the meter (meter registry)", market)
    check_meters(named, problems)
    ts = window.within(ts, problems, "Time")
    rows = pd.DataFrame({"esiid": account, "meter": named, "ts_utc": ts,
                         "register_kwh": records["register_kwh"]})[~problems.invalid]
    return parsed_registers(rows, problems, kind=KIND, source=SOURCE, rows_read=len(records),
                            skipped=int(unregistered.sum()), notes=notes,
                            invalid=int((problems.invalid & ~unregistered.to_numpy()).sum()))
