"""The numpy-built binary COPY payload lands exactly the values a row-by-row COPY would."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.pgcopy import MAX_GROUPS, binary_payload, read_fixed
from intelliwatt_pipelines.cdm.warehouse import create_engine

UTC = dt.timezone.utc
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=UTC)
TABLE = sa.Table(
    "copy_probe", sa.MetaData(),
    sa.Column("name", sa.String(40)), sa.Column("day", sa.Date), sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("small", sa.SmallInteger), sa.Column("medium", sa.Integer), sa.Column("big", sa.BigInteger),
    sa.Column("value", sa.Float), sa.Column("flag", sa.Boolean),
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["1008901000000000000001", "", None, "Zürich ☀", "1008901000000000000001", "x" * 40],
        "day": [dt.date(2025, 11, 2), dt.date(1999, 12, 31), None, dt.date(2000, 1, 1), dt.date(2026, 3, 8),
                dt.date(2099, 12, 31)],
        "at": pd.to_datetime(["2025-11-02T06:00:00.123456Z", "2025-11-02T07:00:00Z", None, "1999-12-31T23:59:59Z",
                              "2026-03-08T08:00:00Z", "2000-01-01T00:00:00Z"], utc=True, format="ISO8601"),
        "small": [15, -1, 0, 32767, 60, 5],
        "medium": [2_000_000_000, -7, 0, 1, 2, 3],
        "big": [2**62, -(2**40), 0, 1, 2, 3],
        "value": [0.001, -1.5, np.nan, 1e300, 3.25, 0.0],
        "flag": [True, False, None, True, False, True],
    })


@pytest.fixture
def pg(postgres_url):
    engine = create_engine(postgres_url)
    TABLE.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _read(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(TABLE)).all(), key=repr)


def _copy_payload(engine, payload: bytes) -> None:
    with engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        with cursor.copy(f"COPY {TABLE.name} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)


def test_binary_payload_round_trips_every_type_null_and_text(pg):
    frame = _frame()
    _copy_payload(pg, binary_payload(frame, list(TABLE.columns)))
    got = _read(pg)
    with pg.begin() as conn:
        conn.execute(TABLE.delete())
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(TABLE.insert(), records)
    assert got == _read(pg)
    assert len(got) == 6
    assert any(row.name is None and row.value is None and row.at is None for row in got)
    assert any(row.at == dt.datetime(2025, 11, 2, 6, 0, 0, 123456, tzinfo=UTC) for row in got)


def test_binary_payload_declines_what_it_cannot_encode():
    many = pd.DataFrame({"name": [f"n{i}" for i in range(MAX_GROUPS + 1)]})
    assert binary_payload(many, [sa.Column("name", sa.String(10))]) is None
    assert binary_payload(pd.DataFrame({"doc": ["{}"]}), [sa.Column("doc", sa.JSON)]) is None


def test_read_fixed_reads_fixed_width_rows_as_they_are_and_refuses_nulls(pg):
    _copy_payload(pg, binary_payload(_frame(), list(TABLE.columns)))
    fields = [("at", "timestamptz"), ("small", "int2"), ("medium", "int4"), ("big", "int8"), ("value", "float8"),
              ("flag", "bool")]
    query = "SELECT at, small, medium, big, value, flag FROM copy_probe WHERE at IS NOT NULL AND big > %s ORDER BY big"
    with pg.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        rows = read_fixed(cursor, query, (0,), fields)
        want = conn.execute(sa.text(query.replace("%s", "0"))).all()
        assert len(rows) == len(want) == 4
        assert [(PG_EPOCH + dt.timedelta(microseconds=int(r["at"])), int(r["small"]), int(r["medium"]), int(r["big"]),
                 float(r["value"]), bool(r["flag"])) for r in rows] == [tuple(w) for w in want]
        assert len(read_fixed(cursor, query, (2**63 - 1,), fields)) == 0
        with pytest.raises(ValueError):  # the row of NULLs: its layout differs, never misread
            read_fixed(cursor, "SELECT at, small, medium, big, value, flag FROM copy_probe WHERE big >= %s",
                       (0,), fields)
