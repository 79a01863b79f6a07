"""The canonical frames every layer shares: their columns, keys and dtypes, and the reporting time zone.

The parsers (``sources``) produce these frames and the warehouse (``cdm``) stores them, so they live
here, below both: neither layer has to import the other. Only pandas and ``bounds``.
"""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines.bounds import CENTRAL_TZ

__all__ = ["BILLING_COLUMNS", "BILLING_KEY", "CENTRAL_TZ", "INTERVAL_COLUMNS", "by_unique", "typed_frame",
           "unsigned_zero"]

# esiid, meter, channel identify a series; ts_utc is the interval start (UTC).
INTERVAL_COLUMNS = [
    "esiid", "meter", "channel", "ts_utc", "interval_minutes", "kwh", "quality", "revised_at",
]

# One billing read (a daily or monthly meter read) and the key its revisions share.
BILLING_COLUMNS = [
    "esiid", "meter", "channel", "read_start", "read_end", "bill_date", "kwh_total", "kwh_billed",
    "start_reading", "end_reading", "tdsp_code", "tdsp_name", "quality", "revised_at",
]
BILLING_KEY = ["esiid", "meter", "channel", "read_start", "read_end"]


def by_unique(values: pd.Series, func) -> pd.Series:
    """``func`` (Series -> Series of the same length) applied once per distinct value and spread
    back over ``values``. Vendor files repeat their ESIID, dates, clock times and flags on every row,
    so this does per-row string work on a few hundred values instead of tens of thousands."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    result = func(pd.Series(uniques, dtype=values.dtype))
    return result.take(codes).set_axis(values.index)


def unsigned_zero(values: pd.Series) -> pd.Series:
    """``-0.0`` as ``0.0``: a negative zero would be stored, and shown, as ``-0``."""
    return values.where(values != 0, 0.0)


def typed_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Coerce to the canonical dtypes (strings as str, times as UTC datetimes)."""
    out = pd.DataFrame(index=df.index)
    for col in ("esiid", "meter", "channel", "quality"):
        # few distinct values per file: convert those, not every row
        out[col] = by_unique(df[col], lambda s: s.astype(str)) if len(df) else pd.Series([], dtype=str)
    out["ts_utc"] = pd.to_datetime(df["ts_utc"], utc=True).astype("datetime64[us, UTC]")
    out["interval_minutes"] = df["interval_minutes"].astype("int64")
    out["kwh"] = unsigned_zero(df["kwh"].astype("float64"))
    out["revised_at"] = pd.to_datetime(df["revised_at"], utc=True).astype("datetime64[us, UTC]")
    return out[INTERVAL_COLUMNS].reset_index(drop=True)
