"""pandera schemas for canonical frames (used by the Dagster asset checks and the tests).

The column checks (allowed values, bounds, patterns, nullability) come from ``cdm.fields``.
"""

from __future__ import annotations

import functools

import pandera.pandas as pa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm import fields
from intelliwatt_pipelines.cdm.fields.base import ESIID_PATTERN

# fields' column types as the frames hold them (model.typed_frame)
FRAME_DTYPES = {"smallint": int, "integer": int, "bigint": int, "id": int, "float": float, "text": str,
                "timestamptz": "datetime64[us, UTC]"}


def column_checks(f: fields.Field, market: markets.Market | None = None) -> list[pa.Check]:
    """``market``: the service point id column follows that market's rule (the declared one is Texas')."""
    checks = [pa.Check.isin(list(f.choices))] if f.allowed else []
    if f.pattern is ESIID_PATTERN and market is not None:
        checks.append(pa.Check.str_matches(market.identity.pattern))
    elif f.pattern:
        checks.append(pa.Check.str_matches(f.pattern.regex.pattern))
    return checks + [check(x) for check, x in ((pa.Check.ge, f.ge), (pa.Check.le, f.le), (pa.Check.lt, f.lt))
                     if x is not None]


def frame_column(f: fields.Field, market: markets.Market | None = None) -> pa.Column:
    return pa.Column(str if f.length else FRAME_DTYPES[f.type], column_checks(f, market), nullable=f.nullable)


def frame_columns(table: str, names: list[str], market: markets.Market | None = None) -> dict[str, pa.Column]:
    return {name: frame_column(fields.column(table, name), market) for name in names}


# The intervals as the checks read them back (not revised_at, source, raw_file_id).
INTERVAL_CHECKED = ["esiid", "meter", "channel", "ts_utc", "interval_minutes", "kwh", "quality"]


@functools.cache
def interval_schema(market: markets.Market = markets.MARKETS[markets.DEFAULT_MARKET]) -> pa.DataFrameSchema:
    """The interval checks with ``market``'s service point ids (``usage_interval_schema``: Texas)."""
    return pa.DataFrameSchema(
        frame_columns("usage_interval", INTERVAL_CHECKED, market),
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


usage_interval_schema = interval_schema()
