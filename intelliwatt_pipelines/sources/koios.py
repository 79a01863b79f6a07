"""SparkMeter Koios v2 historical pages (vendor-apis.md §3.1 2) as hourly intervals.

``{"data":[{"kilowatt_hours","timestamp","meter":{"serial_number","customer":{"code"}}}],"pagination":{…}}``:
each row is the energy of one hour (interval kWh, not a register) starting at ``timestamp`` (UTC, ``Z``).
The service point is the customer's account code, checked by the market's rule (1PWR: ``0005MAK``), the
meter its SparkMeter serial. Koios gives no actual/estimated flag and no revision: ``actual``, no
``revised_at``. One page is one file (the client keeps every answer); paging is the client's business.
"""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedIntervals, Problems, ReadingWindow, check_kwh, check_meters
from intelliwatt_pipelines.sources.onepwr_common import (
    check_service_points,
    load_json,
    split_repeats,
    text_of,
    utc_instants,
)

KIND = kinds.KOIOS_HISTORICAL_JSON
SOURCE = "koios"
# Bump on a change to how pages become rows (defs/versions.py shows assets "Unsynced").
PARSER_VERSION = "1"
INTERVAL_MINUTES = 60
CHANNEL = "consumption"


def _row(item) -> tuple[bool, str, str, str, str]:
    """(is_object, kWh text, timestamp, serial, customer code) of one ``data[]`` item, '' when absent."""
    if not isinstance(item, dict):
        return False, "", "", "", ""
    meter = item.get("meter") if isinstance(item.get("meter"), dict) else {}
    customer = meter.get("customer") if isinstance(meter.get("customer"), dict) else {}
    return True, text_of(item.get("kilowatt_hours")), text_of(item.get("timestamp")), \
        text_of(meter.get("serial_number")), text_of(customer.get("code"))


def _rows(text: str) -> pd.DataFrame:
    doc = load_json(text, "Koios historical page")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError("Koios historical page has no data list")
    return pd.DataFrame([_row(item) for item in doc["data"]],
                        columns=["is_object", "kwh", "timestamp", "serial", "code"])


def parse(text: str, *, window: ReadingWindow = ReadingWindow(),
          market: markets.Market | None = None) -> ParsedIntervals:
    """One Koios page: hourly interval kWh per (customer code, serial)."""
    rows = _rows(text)
    problems = Problems(len(rows), numbered=False)
    problems.flag(~rows["is_object"].to_numpy(dtype=bool), "data item is not an object")
    problems.flag(rows["code"].eq("").to_numpy(), "meter.customer.code is missing")
    check_service_points(rows["code"], problems, "meter.customer.code", market)
    problems.flag(rows["serial"].eq("").to_numpy(), "meter.serial_number is missing")
    check_meters(rows["serial"], problems)
    problems.flag(rows["kwh"].eq("").to_numpy(), "kilowatt_hours is missing")
    kwh = check_kwh(rows["kwh"], problems)
    ts = utc_instants(rows["timestamp"])
    problems.flag(ts.isna().to_numpy(), "timestamp is not an ISO 8601 time")
    problems.flag((ts.notna() & ts.ne(ts.dt.floor("h"))).to_numpy(), "timestamp is not on the hour")
    ts = window.within(ts, problems, "timestamp")
    keep = ~problems.invalid
    out = pd.DataFrame({"esiid": rows["code"], "meter": rows["serial"], "channel": CHANNEL, "ts_utc": ts,
                        "interval_minutes": INTERVAL_MINUTES, "kwh": kwh, "quality": "actual",
                        "revised_at": pd.NaT})[keep]
    out, clashes, repeats, reasons = split_repeats(out, ["esiid", "meter", "channel", "ts_utc"])
    return ParsedIntervals(kind=KIND, frame=typed_frame(out), rows_read=len(rows),
                           rows_invalid=int(problems.invalid.sum()) + clashes, rows_skipped=repeats,
                           problems=problems.messages + reasons)
