"""Large SMT interval CSVs are read as a stream and written in chunks of whole days: the warehouse
ends exactly as when the file is parsed whole (on SQLite and PostgreSQL), and memory stays bounded."""

import datetime as dt
import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, raw_file_coverage, usage_interval
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.ingest import capture_file, normalize
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.test_dagster import ROOT

HOMES = ("10443720000000001", "1008901000000000000002", "10443720000000003")


def delivery() -> bytes:
    """Three homes around the fall-back day: two channels, an estimated day, a missing day, single
    missing intervals (placeholders, some across chunk edges) and a few invalid rows."""
    days = date_range(dt.date(2025, 10, 28), dt.date(2025, 11, 6))
    parts = [
        smt_interval_csv(HOMES[0], days, seed=1, channels=("Consumption", "Surplus Generation"),
                         estimated_days=[dt.date(2025, 11, 2)]),
        smt_interval_csv(HOMES[1], [d for d in days if d != dt.date(2025, 11, 1)], seed=2, raw=False),
        smt_interval_csv(HOMES[2], date_range(dt.date(2026, 3, 6), dt.date(2026, 3, 10)), seed=3),
    ]
    lines = parts[0].decode().splitlines()
    lines += [line for p in parts[1:] for line in p.decode().splitlines()[1:]]
    for i in (40, 41, 500, 1200, 2501):  # meter skipped a read
        lines[i] = None
    lines[700] = lines[700].replace(",A,", ",X,")  # invalid quality flag
    return ("\r\n".join(line for line in lines if line is not None) + "\r\n").encode()


def ingest(engine, store, tmp_path, data: bytes, **kwargs):
    path = tmp_path / "IntervalMeterUsage_big.csv"
    path.write_bytes(data)
    captured = capture_file(engine, store, path, source="test")
    return normalize.normalize_raw_file(engine, store, captured.raw_file_id, **kwargs)


def tables(engine) -> dict:
    out = {}
    with engine.connect() as conn:
        sha = dict(conn.execute(sa.select(raw_file.c.id, raw_file.c.sha256)).all())  # ids differ between runs
        for table in (usage_interval, daily_completeness, raw_file_coverage):
            rows = [r._asdict() for r in conn.execute(sa.select(table)).all()]
            out[table.name] = sorted(tuple({**r, "raw_file_id": sha.get(r.get("raw_file_id"))}.values()) for r in rows)
        out["raw_file"] = conn.execute(sa.select(raw_file.c.status, raw_file.c.rows_read, raw_file.c.rows_valid,
                                                 raw_file.c.rows_invalid, raw_file.c.rows_skipped)).all()
    return out


@pytest.mark.parametrize("chunk_rows", [97, 1000])
def test_streamed_chunks_end_exactly_as_the_whole_file(engine, tmp_path, monkeypatch, chunk_rows):
    data = delivery()
    whole = ingest(engine, LocalRawStore(tmp_path / "raw1"), tmp_path, data, max_invalid_fraction=0.01)
    assert whole.status == "normalized" and whole.rows_invalid == 1
    expected = tables(engine)
    with engine.begin() as conn:
        for table in (usage_interval, daily_completeness, raw_file_coverage, raw_file):
            conn.execute(table.delete())

    calls = []
    original = normalize.smt_interval.parse_chunks
    monkeypatch.setattr(normalize.smt_interval, "parse_chunks",
                        lambda *a, **k: (calls.append(1) or c for c in original(*a, **k)))
    monkeypatch.setattr(normalize, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(normalize, "STREAM_CHUNK_ROWS", chunk_rows)
    streamed = ingest(engine, LocalRawStore(tmp_path / "raw2"), tmp_path, data, max_invalid_fraction=0.01)
    assert len(calls) > 3  # it really went through the chunks
    assert streamed.status == "normalized"
    assert tables(engine) == expected
    for attr in ("rows_read", "rows_valid", "rows_invalid", "rows_skipped", "rows_written"):
        assert getattr(streamed, attr) == getattr(whole, attr), attr
    assert streamed.kwh == pytest.approx(whole.kwh)
    assert set(map(tuple, streamed.days.values.tolist())) == set(map(tuple, whole.days.values.tolist()))
    assert streamed.error == whole.error and "invalid rows tolerated" in streamed.error


def test_a_streamed_file_with_too_many_invalid_rows_writes_nothing(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(normalize, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(normalize, "STREAM_CHUNK_ROWS", 200)
    bad = delivery().replace(b",A,Consumption", b",Q,Consumption")
    outcome = ingest(engine, LocalRawStore(tmp_path / "raw"), tmp_path, bad)
    assert outcome.status == "failed" and "ESTIMATED_ACTUAL is not A or E" in outcome.error
    assert tables(engine)["usage_interval"] == []
    broken = delivery()[:5000] + b"\xff\xfe not text" + delivery()[5000:]
    outcome = ingest(engine, LocalRawStore(tmp_path / "raw"), tmp_path, broken)
    assert outcome.status == "failed" and "UTF-8" in outcome.error


def test_a_file_whose_days_are_not_together_is_parsed_whole(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(normalize, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(normalize, "STREAM_CHUNK_ROWS", 50)
    head, *rows = delivery().decode().splitlines()
    shuffled = ("\r\n".join([head] + rows[::2] + rows[1::2]) + "\r\n").encode()  # days interleaved
    outcome = ingest(engine, LocalRawStore(tmp_path / "raw"), tmp_path, shuffled, max_invalid_fraction=0.01)
    assert outcome.status == "normalized" and outcome.rows_invalid == 1


@pytest.mark.slow
def test_peak_memory_of_a_large_file_stays_bounded(postgres_url, tmp_path):
    """A 60 MB file in a fresh process: the whole-file path peaked near 10x the file's size."""
    engine = create_engine(postgres_url)
    migrate(engine)
    one = smt_interval_csv(HOMES[0], date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), seed=4)
    head, body = one.split(b"\r\n", 1)
    homes = [f"10443721{i:09d}" for i in range(23)]  # ~60 MB
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "IntervalMeterUsage_big.csv").write_bytes(
        head + b"\r\n" + b"".join(body.replace(HOMES[0].encode(), h.encode()) for h in homes))
    code = ("import json, sys; from bench.ingest_profile import ingest_alone; "
            "print(json.dumps(ingest_alone(*sys.argv[1:])))")
    out = subprocess.run([sys.executable, "-c", code, postgres_url, str(tmp_path / "inbox"), str(tmp_path / "raw")],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == ["normalized"] and result["rows_written"] == 23 * 35040
    assert result["peak_rss_mib"] < 400, result
    engine.dispose()
