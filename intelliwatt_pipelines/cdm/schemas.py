"""pandera schemas for canonical frames (used by the Dagster asset checks and the tests)."""

from __future__ import annotations

import pandera.pandas as pa

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.esiid import ESIID_RE

usage_interval_schema = pa.DataFrameSchema(
    {
        "esiid": pa.Column(str, pa.Check.str_matches(ESIID_RE.pattern)),
        "meter": pa.Column(str, pa.Check.str_matches(bounds.METER_RE.pattern)),
        "channel": pa.Column(str, pa.Check.isin(["consumption", "generation"])),
        "ts_utc": pa.Column("datetime64[us, UTC]"),
        "interval_minutes": pa.Column(int, pa.Check.isin([5, 15, 30, 60])),
        "kwh": pa.Column(float, [pa.Check.ge(0), pa.Check.lt(bounds.MAX_INTERVAL_KWH)]),
        "quality": pa.Column(str, pa.Check.isin(["actual", "estimated", "filled"])),
    },
    checks=[
        # A placeholder is a zero, never a guess.
        pa.Check(lambda df: (df["quality"] != "filled") | (df["kwh"] == 0), name="filled_rows_are_zero"),
        # Interval starts sit on their interval grid (UTC minutes; Central offsets are whole hours).
        pa.Check(lambda df: (df["ts_utc"].dt.minute % df["interval_minutes"].clip(upper=60)) == 0,
                 name="starts_on_interval_grid"),
    ],
    unique=["esiid", "meter", "channel", "ts_utc"],
    coerce=False,
    strict=False,
)
