"""SparkMeter ThunderCloud v0 customers snapshots (vendor-apis.md §3.1 3) as cumulative register reads.

``GET /api/v0/customers?customers_only=true&reading_details=true`` (the request is
``vendors.thundercloud.requests``) lists customers (``code``, the account) with their ``meters[]``; each
meter's ``total_cycle_energy`` is a cumulative kWh register at ``last_energy_datetime``, read as UTC when
it carries no offset, as ThunderCloud's own import does (to be checked against a site's clock). Snapshots
every ~15 minutes become intervals through ``sources.registers`` (the short serial customer care uses,
57408 for SMRSD-03-0002E040, is ``sources.onepwr_ids.sparkmeter_short_code``). A meter without a register
value or time is skipped: it has no read yet.
"""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedRegisterReads, Problems, ReadingWindow, check_meters
from intelliwatt_pipelines.sources.onepwr_common import (
    check_register,
    check_service_points,
    load_json,
    parsed_registers,
    text_of,
    utc_instants,
)

KIND = kinds.THUNDERCLOUD_CUSTOMERS_JSON
SOURCE = "thundercloud"
# Bump on a change to how snapshots become register reads (defs/versions.py shows assets "Unsynced").
PARSER_VERSION = "1"


class SnapshotError(ParseError):
    """A ThunderCloud answer that is not a customers snapshot."""


def _meters(doc) -> tuple[list[tuple[str, str, str, str]], int]:
    """(code, serial, time, register) of every meter with a read, and how many meters had none."""
    customers = doc["customers"] if isinstance(doc, dict) else doc
    rows, unread = [], 0
    for customer in customers:
        code = text_of(customer["code"])
        for meter in customer.get("meters") or []:
            serial = text_of(meter["serial"])
            if meter.get("total_cycle_energy") is None or not meter.get("last_energy_datetime"):
                unread += 1
                continue
            rows.append((code, serial, text_of(meter["last_energy_datetime"]), text_of(meter["total_cycle_energy"])))
    return rows, unread


def register_reads(body: bytes | str, *, window: ReadingWindow = ReadingWindow(),
                   market: markets.Market | None = None) -> ParsedRegisterReads:
    """One register read per meter: customer code (checked by the market's rule), serial, UTC time, kWh."""
    try:
        rows, unread = _meters(load_json(body.decode() if isinstance(body, bytes) else body, "ThunderCloud answer"))
    except (ParseError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise SnapshotError(f"not a ThunderCloud customers snapshot ({type(exc).__name__}: {exc})") from None
    raw = pd.DataFrame(rows, columns=["esiid", "meter", "time", "register"])
    problems = Problems(len(raw), numbered=False)
    check_service_points(raw["esiid"], problems, "customer code", market)
    check_meters(raw["meter"], problems)
    ts = utc_instants(raw["time"])
    problems.flag(ts.isna().to_numpy(), "last_energy_datetime is not an ISO 8601 time")
    kwh = pd.to_numeric(raw["register"], errors="coerce")
    check_register(kwh, problems, "total_cycle_energy")
    ts = window.within(ts, problems, "last_energy_datetime")
    out = raw.assign(ts_utc=ts, register_kwh=kwh)[~problems.invalid]
    return parsed_registers(out, problems, kind=KIND, source=SOURCE, rows_read=len(raw) + unread, skipped=unread)


def parse(text: str, *, window: ReadingWindow = ReadingWindow(), market: markets.Market | None = None) \
        -> ParsedRegisterReads:
    """``register_reads`` on a decoded file (the dispatch in ``detect`` hands parsers text)."""
    return register_reads(text, window=window, market=market)
