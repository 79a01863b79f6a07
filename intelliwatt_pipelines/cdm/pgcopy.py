"""PostgreSQL binary COPY payloads built from a DataFrame with numpy, not row by row.

Rows are grouped by their text values and NULL pattern; inside a group every row has the same
byte layout, so the group is one numpy structured array written out with ``tobytes()``. The
canonical tables' text columns (ESIID, meter, channel, quality, source) take a handful of values
per file, so a year of intervals is a few groups. Row order inside the payload is not kept (a
COPY into a table has none). Frames this cannot encode (an unknown column type, text columns with
many distinct values) get ``None`` and the caller falls back to row-by-row COPY.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import sqlalchemy as sa

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH_US = int(pd.Timestamp("2000-01-01", tz="UTC").value // 1000)
PG_EPOCH_DAYS = int((pd.Timestamp("2000-01-01") - pd.Timestamp("1970-01-01")).days)
MAX_GROUPS = 256  # past this, row-by-row COPY is as fast and far simpler
FIXED = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float8": ">f8", "timestamptz": ">i8", "date": ">i4",
         "bool": "?"}


# Most specific first: SmallInteger and BigInteger are Integers too.
_WIRE_KINDS = ((sa.String, "text"), (sa.Date, "date"), (sa.SmallInteger, "int2"), (sa.BigInteger, "int8"),
               (sa.Integer, "int4"), (sa.Float, "float8"), (sa.Boolean, "bool"))


def pg_kind(column: sa.Column) -> str | None:
    """The binary wire type of a column, or None when this module does not encode it."""
    t = column.type
    t = getattr(t, "impl", t)
    if isinstance(t, sa.DateTime):
        return "timestamptz" if t.timezone else None
    return next((kind for sql_type, kind in _WIRE_KINDS if isinstance(t, sql_type)), None)


def unix_us(values: pd.Series) -> np.ndarray:
    """Instants as microseconds since the Unix epoch (NaT/None -> INT64_MIN)."""
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]").array.asi8


def _values(series: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(values in wire units, NULL mask) of one column."""
    null = series.isna().to_numpy()
    if kind == "timestamptz":
        return np.where(null, 0, unix_us(series) - PG_EPOCH_US), null
    if kind == "date":
        days = pd.to_datetime(series).astype("datetime64[s]").to_numpy().astype("datetime64[D]").astype(np.int64)
        return np.where(null, 0, days - PG_EPOCH_DAYS), null
    if kind == "bool":
        return series.fillna(False).astype(bool).to_numpy(), null
    if kind == "float8":
        return series.astype("float64").fillna(0.0).to_numpy(), null
    return series.fillna(0).astype(np.int64).to_numpy(), null


def binary_payload(frame: pd.DataFrame, columns: list[sa.Column]) -> bytes | None:
    """The whole COPY ... (FORMAT BINARY) stream for ``frame``'s rows, or None if not encodable."""
    kinds = [pg_kind(c) for c in columns]
    if None in kinds:
        return None
    n = len(frame)
    texts, fixed, keys, radix = {}, {}, [], []
    for col, kind in zip(columns, kinds, strict=True):
        series = frame[col.name]
        if kind == "text":
            codes, uniques = pd.factorize(series, use_na_sentinel=True)  # NaN/None -> -1 (NULL)
            texts[col.name] = [str(u).encode() for u in uniques]
            keys.append(codes.astype(np.int64) + 1)
            radix.append(len(uniques) + 1)
        else:
            values, null = _values(series, kind)
            fixed[col.name] = values
            keys.append(null.astype(np.int64))
            radix.append(2)
    if not n:
        return SIGNATURE + TRAILER
    if np.prod(np.array(radix, dtype=float)) > 2.0 ** 62:
        return None
    # One integer per row for its (text values, NULLs) pattern: mixed radix over the columns.
    combined = np.zeros(n, dtype=np.int64)
    for codes, base in zip(keys, radix, strict=True):
        combined = combined * base + codes
    group, uniques = pd.factorize(combined)
    if len(uniques) > MAX_GROUPS:
        return None
    parts = [SIGNATURE]
    for g in range(len(uniques)):
        rows = np.flatnonzero(group == g)
        pattern = [int(k[rows[0]]) for k in keys]
        parts.append(_group_bytes(rows, pattern, columns, kinds, texts, fixed))
    parts.append(TRAILER)
    return b"".join(parts)


def _group_bytes(rows: np.ndarray, pattern: list[int], columns, kinds, texts, fixed) -> bytes:
    """Rows sharing text values and NULLs: one fixed layout, one structured array. ``pattern``
    holds, per column, the text value's code + 1 (0 = NULL) or the NULL flag."""
    fields, constants = [("n", ">i2")], {"n": len(columns)}
    for i, (col, kind) in enumerate(zip(columns, kinds, strict=True)):
        length = f"l{i}"
        fields.append((length, ">i4"))
        if kind == "text":
            code = pattern[i] - 1
            if code < 0:
                constants[length] = -1
                continue
            data = texts[col.name][code]
            constants[length] = len(data)
            if data:
                fields.append((f"v{i}", f"S{len(data)}"))
                constants[f"v{i}"] = data
        elif pattern[i]:  # NULL
            constants[length] = -1
        else:
            fields.append((f"v{i}", FIXED[kind]))
            constants[length] = np.dtype(FIXED[kind]).itemsize
    out = np.empty(len(rows), dtype=np.dtype(fields))
    for name, value in constants.items():
        out[name] = value
    for i, (col, kind) in enumerate(zip(columns, kinds, strict=True)):
        if kind != "text" and f"v{i}" in out.dtype.names:
            out[f"v{i}"] = fixed[col.name][rows]
    return out.tobytes()


def read_fixed(cursor, query: str, params: tuple, fields: list[tuple[str, str]]) -> np.ndarray:
    """``COPY (query) TO STDOUT (FORMAT BINARY)`` as one structured array, for a query whose
    columns (``fields``: name and wire type, in order) are all fixed-width and never NULL: then
    every row has the same byte layout and numpy reads the stream as it is. Values stay in wire
    units (timestamps in microseconds since 2000-01-01)."""
    layout = [("n", ">i2")]
    for name, kind in fields:
        layout += [(f"{name}_length", ">i4"), (name, FIXED[kind])]
    dtype = np.dtype(layout)
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)", params) as copy:
        data = b"".join(bytes(block) for block in copy)
    # The server sends no header extension, so the body starts right after the fixed header.
    count, rest = divmod(len(data) - len(SIGNATURE) - len(TRAILER), dtype.itemsize)
    rows = np.frombuffer(data, dtype=dtype, offset=len(SIGNATURE), count=count)
    if rest or (rows["n"] != len(fields)).any():
        raise ValueError("COPY rows do not have the expected layout")
    for name, kind in fields:
        if (rows[f"{name}_length"] != np.dtype(FIXED[kind]).itemsize).any():
            raise ValueError(f"COPY column {name} is NULL or not {kind}")
    return rows
