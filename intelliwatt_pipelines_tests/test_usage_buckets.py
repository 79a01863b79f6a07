"""Monthly usage buckets in the warehouse (cdm/usage_buckets.py, ingest/usage_buckets.py), on SQLite and
PostgreSQL: real readings only, changed-only writes, which homes need computing, month usability and the
shape the estimates read."""

import datetime as dt
import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import usage_buckets as store
from intelliwatt_pipelines.cdm.tables import (
    daily_completeness,
    raw_file,
    raw_file_coverage,
    usage_bucket,
    usage_bucket_home,
    usage_interval,
)
from intelliwatt_pipelines.ingest import usage_buckets as ingest
from intelliwatt_pipelines.ingest.usage_buckets import compute_buckets
from intelliwatt_pipelines.pricing.keys import CORE_MONTHLY_BUCKETS

UTC = dt.timezone.utc
HOME, OTHER = "10443720000000101", "10443720000000202"
T1 = dt.datetime(2026, 7, 2, 6, 0, tzinfo=UTC)
T2 = T1 + dt.timedelta(hours=1)
GAP_DAY = dt.date(2026, 6, 10)  # a Wednesday; its 12:00 reading is a placeholder
KEYS = sorted(CORE_MONTHLY_BUCKETS)


def add_home(conn, esiid: str, first: str, end: str, normalized_at: dt.datetime, *, gap: bool = True) -> int:
    """Quarter-hours of 0.25 kWh over local [first, end) for ``esiid``: one estimated reading, and on
    GAP_DAY a filled placeholder (given 5 kWh, to show it is never summed) making that day 'gaps'."""
    raw_id = conn.execute(raw_file.insert().values(
        sha256=esiid.ljust(64, "0"), filename=f"{esiid}.csv", source="test", kind="usage_timestamp_kwh",
        size_bytes=1, storage_uri=f"file:///{esiid}", received_at=normalized_at, status="normalized",
        normalized_at=normalized_at).returning(raw_file.c.id)).scalar_one()
    local = pd.date_range(first, end, freq="15min", tz="America/Chicago", inclusive="left")
    rows = [{"esiid": esiid, "meter": "unknown", "channel": "consumption", "ts_utc": t.tz_convert(UTC).to_pydatetime(),
             "interval_minutes": 15, "kwh": 0.25, "quality": "actual", "source": "csv", "raw_file_id": raw_id}
            for t in local]
    rows[0]["quality"] = "estimated"
    if gap:
        slot = next(i for i, t in enumerate(local) if t.date() == GAP_DAY and t.hour == 12 and t.minute == 0)
        rows[slot].update(quality="filled", kwh=5.0)
    conn.execute(usage_interval.insert(), rows)
    days = sorted({t.date() for t in local})
    conn.execute(raw_file_coverage.insert().values(raw_file_id=raw_id, esiid=esiid, meter="unknown",
                                                   channel="consumption", first_local_date=days[0],
                                                   last_local_date=days[-1], intervals=len(rows)))
    conn.execute(daily_completeness.insert(), [
        {"esiid": esiid, "meter": "unknown", "channel": "consumption", "local_date": day, "interval_minutes": 15,
         "expected_intervals": 96, "actual_intervals": 95 if gap and day == GAP_DAY else 96,
         "estimated_intervals": 0, "filled_intervals": int(gap and day == GAP_DAY), "kwh_real": 24.0,
         "kwh_filled": 0.0, "completeness": 1.0, "status": "gaps" if gap and day == GAP_DAY else "complete"}
        for day in days])
    return raw_id


def bucket_rows(engine, esiid: str) -> dict:
    b = usage_bucket.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(b.year_month, b.bucket_key, b.kwh, b.intervals, b.computed_at)
                            .where(b.esiid == esiid)).all()
    return {(r.year_month, r.bucket_key): r for r in rows}


def test_buckets_from_real_readings_written_changed_only(engine):
    """2026-05-15 .. 2026-06-30: May is a part month (17 of 31 days), June has one 'gaps' day (29 of 30)."""
    with engine.begin() as conn:
        raw_id = add_home(conn, HOME, "2026-05-15", "2026-07-01", T1)
    with engine.connect() as conn:
        assert store.homes_to_compute(conn, store.keys_sha256(KEYS)) == [HOME]
    first = compute_buckets(engine, KEYS, now=T1)
    assert (first.homes, first.months, first.usable_months) == (1, 2, 0)
    assert (first.inserted, first.updated, first.deleted, first.mismatches) == (2 * len(KEYS), 0, 0, [])

    with engine.connect() as conn:
        months = store.home_months(conn, HOME)
        home = store.home_row(conn, HOME)
    assert list(months) == ["2026-05", "2026-06"]
    june = months["2026-06"]
    assert set(june.kwh) == set(KEYS) and (june.complete_days, june.expected_days) == (29, 30)
    assert (months["2026-05"].complete_days, months["2026-05"].expected_days) == (17, 31)
    # the placeholder is neither summed (5 kWh) nor counted; the estimated reading is both
    assert june.kwh["kwh.m.all.total"] == pytest.approx(720 - 0.25)
    assert june.intervals["kwh.m.all.total"] == 30 * 96 - 1
    assert months["2026-05"].kwh["kwh.m.all.total"] == pytest.approx(17 * 24)
    assert june.kwh["kwh.m.weekday.total"] + june.kwh["kwh.m.weekend.total"] == pytest.approx(720 - 0.25)
    assert (home.months, home.usable_months, home.keys_sha256) == (2, 0, store.keys_sha256(KEYS))
    assert home.through_normalized_at == T1 and home.computed_at == T1

    # nothing changed: no home needs computing, and computing anyway writes nothing
    with engine.connect() as conn:
        assert store.homes_to_compute(conn, store.keys_sha256(KEYS)) == []
    assert compute_buckets(engine, KEYS, now=T2).homes == 0
    again = compute_buckets(engine, KEYS, esiids=[HOME], now=T2, min_complete=0.9)
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 2 * len(KEYS))
    assert again.usable_months == 1  # June at 29/30 >= 0.9; May at 17/31 is not
    with engine.connect() as conn:
        home = store.home_row(conn, HOME)
    assert home.usable_months == 1 and home.computed_at == T1  # the buckets did not move

    # a June reading changes (Wednesday 2026-06-03 12:00, re-delivered): only June's buckets holding it
    noon = pd.Timestamp("2026-06-03 12:00", tz="America/Chicago").tz_convert(UTC).to_pydatetime()
    with engine.begin() as conn:
        conn.execute(usage_interval.update().where(usage_interval.c.esiid == HOME, usage_interval.c.ts_utc == noon)
                     .values(kwh=1.25))
        conn.execute(raw_file.update().where(raw_file.c.id == raw_id).values(normalized_at=T2))
        assert store.homes_to_compute(conn, store.keys_sha256(KEYS)) == [HOME]
    changed = compute_buckets(engine, KEYS, now=T2)
    assert (changed.homes, changed.inserted, changed.updated, changed.deleted) == (1, 0, 4, 0)
    rows = bucket_rows(engine, HOME)
    written = sorted(k for (ym, k), r in rows.items() if r.computed_at == T2)
    assert written == ["kwh.m.all.0700-2000", "kwh.m.all.total", "kwh.m.weekday.0700-2000", "kwh.m.weekday.total"]
    assert all(r.computed_at == T1 for (ym, _), r in rows.items() if ym == "2026-05")
    assert rows[("2026-06", "kwh.m.all.total")].kwh == pytest.approx(721 - 0.25)


def test_a_new_key_set_recomputes_every_home_and_drops_keys_no_longer_asked(engine):
    with engine.begin() as conn:
        add_home(conn, HOME, "2026-06-01", "2026-07-01", T1, gap=False)
        add_home(conn, OTHER, "2026-06-20", "2026-07-03", T1, gap=False)
    run = compute_buckets(engine, KEYS, now=T1)
    assert (run.homes, run.months, run.usable_months) == (2, 3, 1)  # HOME's June is whole; OTHER's are parts
    wider = [*KEYS, "kwh.m.all.2100-0600", "kwh.m.all.0600-2100"]
    with engine.connect() as conn:
        assert store.homes_to_compute(conn, store.keys_sha256(wider)) == [HOME, OTHER]
    run = compute_buckets(engine, wider, now=T2)
    assert (run.homes, run.inserted, run.updated, run.deleted) == (2, 3 * 2, 0, 0)
    with engine.connect() as conn:
        june = store.home_months(conn, HOME)["2026-06"].kwh
    assert june["kwh.m.all.2100-0600"] == pytest.approx(30 * 9) and june["kwh.m.all.0600-2100"] == pytest.approx(30 * 15)
    narrower = [k for k in wider if "weekend" not in k]
    run = compute_buckets(engine, narrower, esiids=[HOME], now=T2)
    assert (run.inserted, run.updated, run.deleted, run.unchanged) == (0, 0, 3, len(narrower))
    assert set(bucket_rows(engine, HOME)) == {("2026-06", k) for k in narrower}
    with engine.connect() as conn:
        homes = dict(conn.execute(sa.select(usage_bucket_home.c.esiid, usage_bucket_home.c.keys_sha256)).all())
    assert homes == {HOME: store.keys_sha256(narrower), OTHER: store.keys_sha256(wider)}


def test_sum_mismatches_are_counted_logged_masked_and_the_buckets_still_stored(engine, monkeypatch, caplog):
    with engine.begin() as conn:
        add_home(conn, HOME, "2026-06-01", "2026-07-01", T1, gap=False)
    monkeypatch.setattr(ingest, "sum_mismatches", lambda month: ["windows 1 kWh off"])
    with caplog.at_level(logging.WARNING, logger="intelliwatt.plans"):
        run = compute_buckets(engine, KEYS, now=T1, chunk_homes=1)
    assert len(run.mismatches) == 1 and "2026-06: windows 1 kWh off" in run.mismatches[0]
    assert HOME not in run.mismatches[0] and HOME not in caplog.text
    assert "USAGE_BUCKET_SUM_MISMATCH" in caplog.text
    assert len(bucket_rows(engine, HOME)) == len(KEYS)


def test_a_home_with_only_placeholders_has_no_months(engine):
    with engine.begin() as conn:
        add_home(conn, HOME, "2026-06-01", "2026-06-02", T1, gap=False)
        conn.execute(usage_interval.update().values(quality="filled", kwh=0.0))
    run = compute_buckets(engine, KEYS, now=T1)
    assert (run.homes, run.months, run.inserted) == (1, 0, 0)
    with engine.connect() as conn:
        assert store.home_months(conn, HOME) == {} and store.home_row(conn, HOME).months == 0
    with pytest.raises(ValueError, match="not a bucket key"):
        compute_buckets(engine, ["kwh.m.all.total", "kwh.x"], esiids=[HOME])
