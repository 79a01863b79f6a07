"""What a ThunderCloud customers snapshot says (vendor-apis.md §3.1 3), pure:
``GET /api/v0/customers?customers_only=true&reading_details=true`` lists customers (``code``) with their
``meters[]``; each meter's ``total_cycle_energy`` is a cumulative kWh register at
``last_energy_datetime`` (read as UTC when it carries no offset, as ThunderCloud's own import does: to be
checked against a site's clock). Snapshots every ~15 minutes become register reads for
``sources.registers`` (the short serial customer care uses, 57408 for SMRSD-03-0002E040, is
``sources.onepwr_ids.sparkmeter_short_code``)."""

from __future__ import annotations

import json

import pandas as pd

CUSTOMERS_PATH = "/api/v0/customers"
CUSTOMERS_PARAMS = {"customers_only": "true", "reading_details": "true"}
TOKEN_HEADER = "Authentication-Token"
READ_COLUMNS = ["customer", "meter", "ts_utc", "register_kwh"]


class SnapshotError(ValueError):
    """A ThunderCloud answer that is not a customers snapshot."""


def register_reads(body: bytes) -> pd.DataFrame:
    """One row per meter with a register value: customer code, serial, UTC time, kWh."""
    try:
        doc = json.loads(body)
        customers = doc["customers"] if isinstance(doc, dict) else doc
        rows = [(c["code"], m["serial"], m["last_energy_datetime"], float(m["total_cycle_energy"]))
                for c in customers for m in c.get("meters") or []
                if m.get("total_cycle_energy") is not None and m.get("last_energy_datetime")]
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"not a ThunderCloud customers snapshot ({type(exc).__name__}: {exc})") from None
    frame = pd.DataFrame(rows, columns=READ_COLUMNS)
    stamps = pd.to_datetime(frame["ts_utc"], format="ISO8601")
    frame["ts_utc"] = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return frame
