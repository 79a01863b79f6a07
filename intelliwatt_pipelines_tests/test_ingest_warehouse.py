"""Ingest into a real warehouse (SQLite and PostgreSQL): exact counts, idempotence, upsert rules."""

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, usage_interval
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file, rebuild_esiid_days
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.conftest import DATA

HEADER = ("ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,"
          "CONSUMPTION_SURPLUSGENERATION\n")
ESIID = "10443720000000001"
CHANNEL = {"Consumption": "consumption", "Surplus Generation": "generation"}


def ingest_bytes(engine, store, tmp_path, data: bytes, name: str, **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    captured = capture_file(engine, store, path, source="test")
    return normalize_raw_file(engine, store, captured.raw_file_id, **kwargs)


def ingest_sample(engine, store, tmp_path, name):
    return ingest_bytes(engine, store, tmp_path, (DATA / name).read_bytes(), name)


def snapshot(engine, table):
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(table)).all())


def interval(engine, ts_utc: str, esiid=ESIID):
    u = usage_interval.c
    with engine.connect() as conn:
        return conn.execute(sa.select(u.kwh, u.quality, u.revised_at, u.raw_file_id).where(
            u.esiid == esiid, u.ts_utc == dt.datetime.fromisoformat(ts_utc).replace(tzinfo=dt.timezone.utc))).one()


def smt_rows(day: str, revised: str, values: dict[str, tuple[str, str]]) -> bytes:
    """An SMT file for one ESIID and day; values maps 'H:MM' start to (kWh, A|E)."""
    lines = []
    for start, (kwh, flag) in values.items():
        h, m = map(int, start.split(":"))
        end = (dt.datetime(2000, 1, 1, h, m) + dt.timedelta(minutes=15)).strftime("%-H:%M")
        lines.append(f"'{ESIID},{day},{revised},{start},{end},{kwh},{flag},Consumption")
    return (HEADER + "\n".join(lines) + "\n").encode()


def test_samples_land_exactly_and_a_second_ingest_changes_nothing(engine, store, tmp_path, expected):
    for name in expected:
        assert ingest_sample(engine, store, tmp_path, name).status == "normalized"
    with engine.connect() as conn:
        rows = {(r.esiid, str(r.local_date), r.channel): r for r in conn.execute(sa.select(daily_completeness))}
        total = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one()
    for want in expected.values():
        for day in want["days"]:
            got = rows[(want["esiid"], day["date"], CHANNEL[day["channel"]])]
            assert got.actual_intervals == day["intervals"] == got.expected_intervals
            assert got.kwh_real == pytest.approx(day["kwh"], abs=5e-4)
            assert got.status == "complete"
    assert total == sum(d["intervals"] for want in expected.values() for d in want["days"])

    before = [snapshot(engine, t) for t in (usage_interval, daily_completeness, raw_file)]
    for name in expected:  # same bytes again: capture is a no-op
        assert capture_file(engine, store, DATA / name, source="test").new is False
    for name in expected:  # same rows under new bytes (a trailing newline): nothing changes
        again = ingest_bytes(engine, store, tmp_path, (DATA / name).read_bytes() + b"\n", "again_" + name)
        assert again.status == "normalized" and again.rows_written == 0
    assert [snapshot(engine, t) for t in (usage_interval, daily_completeness)] == before[:2]


def test_year_long_export_lands_whole(engine, store, tmp_path):
    data = smt_interval_csv("10443720004766435", date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), seed=7)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 35044
    file_kwh = sum(float(r["USAGE_KWH"]) for r in rows if r["USAGE_KWH"].strip())
    outcome = ingest_bytes(engine, store, tmp_path, data, "IntervalMeterUsage_year.csv")
    assert outcome.status == "normalized" and outcome.rows_written == 35040
    with engine.connect() as conn:
        u, d = usage_interval.c, daily_completeness.c
        count, kwh = conn.execute(sa.select(sa.func.count(), sa.func.sum(u.kwh))).one()
        days = conn.execute(sa.select(d.status, sa.func.count()).group_by(d.status)).all()
        dst = dict(conn.execute(sa.select(d.local_date, d.expected_intervals).where(
            d.local_date.in_([dt.date(2025, 3, 9), dt.date(2025, 11, 2)]))).all())
    assert count == 35040
    assert round(kwh, 3) == round(file_kwh, 3)
    assert dict(days) == {"complete": 365}
    assert dst == {dt.date(2025, 3, 9): 92, dt.date(2025, 11, 2): 100}


def test_newer_revision_wins_and_older_never_overrides(engine, store, tmp_path):
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.5", "A")}), "r1.csv")
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/3/2025 7:00", {"0:00": ("0.9", "A")}), "r2.csv")
    assert interval(engine, "2025-01-01 06:00").kwh == 0.9
    out = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 6:00", {"0:00": ("0.1", "A")}), "r0.csv")
    assert out.rows_written == 0
    row = interval(engine, "2025-01-01 06:00")
    assert (row.kwh, row.revised_at) == (0.9, dt.datetime(2025, 1, 3, 13, 0, tzinfo=dt.timezone.utc))


def test_actual_replaces_estimated(engine, store, tmp_path):
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.5", "E")}), "e.csv")
    assert interval(engine, "2025-01-01 06:00").quality == "estimated"
    # Same revision stamp, now actual: actual wins.
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.7", "A")}), "a.csv")
    row = interval(engine, "2025-01-01 06:00")
    assert (row.kwh, row.quality) == (0.7, "actual")
    # An estimate with the same stamp does not take the actual's place.
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.6", "E")}), "e2.csv")
    assert interval(engine, "2025-01-01 06:00").quality == "actual"
    with engine.connect() as conn:
        day = conn.execute(sa.select(daily_completeness)).one()
    assert day.estimated_intervals == 0 and day.kwh_real == 0.7


def test_placeholders_fill_gaps_never_overwrite_and_are_upgraded(engine, store, tmp_path):
    gap = {"0:00": ("0.5", "A"), "0:45": ("0.4", "A")}  # 0:15 and 0:30 missing
    first = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", gap), "gap.csv")
    assert first.rows_written == 4
    for ts in ("2025-01-01 06:15", "2025-01-01 06:30"):
        row = interval(engine, ts)
        assert (row.kwh, row.quality) == (0.0, "filled")
    with engine.connect() as conn:
        day = conn.execute(sa.select(daily_completeness)).one()
    assert (day.actual_intervals, day.filled_intervals, day.status) == (2, 2, "gaps")

    # A later file with the real reading upgrades the placeholder.
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:15": ("0.3", "A")}), "fix.csv")
    row = interval(engine, "2025-01-01 06:15")
    assert (row.kwh, row.quality) == (0.3, "actual")

    # A file whose own gap covers a real reading writes a placeholder there, which must not win.
    other = {"0:00": ("0.5", "A"), "0:30": ("0.2", "A")}
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", other), "other.csv")
    row = interval(engine, "2025-01-01 06:15")
    assert (row.kwh, row.quality) == (0.3, "actual")


def test_a_genuine_zero_reading_is_real(engine, store, tmp_path):
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.000", "A")}), "z.csv")
    row = interval(engine, "2025-01-01 06:00")
    assert (row.kwh, row.quality) == (0.0, "actual")
    with engine.connect() as conn:
        day = conn.execute(sa.select(daily_completeness)).one()
    assert (day.actual_intervals, day.filled_intervals) == (1, 0)


@pytest.mark.parametrize("data, message", [
    (b"ESIID,USAGE_DATE,WHATEVER\n1,2,3\n", "unexpected SMT interval header"),
    (HEADER.encode() + b"'10443720000000001,1/1/2025,1/2/2025 7:00,0:00,0:15,lots,A,Consumption\n", "kWh is not a number"),
    (bytes(range(256)) * 8, "binary"),
])
def test_bad_files_fail_with_raw_kept_and_nothing_written(engine, store, tmp_path, data, message):
    outcome = ingest_bytes(engine, store, tmp_path, data, "bad.csv")
    assert outcome.status == "failed" and message in outcome.error
    with engine.connect() as conn:
        row = conn.execute(sa.select(raw_file)).one()
        assert conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one() == 0
    assert row.status == "failed" and message in row.error
    assert store.get(row.sha256) == data


def test_invalid_rows_can_be_tolerated_by_setting_and_are_still_reported(engine, store, tmp_path):
    data = smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.5", "A"), "0:15": ("x", "A"), "0:30": ("0.4", "A"),
                                                  "0:45": ("0.3", "A")})
    outcome = ingest_bytes(engine, store, tmp_path, data, "some_bad.csv", max_invalid_fraction=0.5)
    assert outcome.status == "normalized" and outcome.rows_invalid == 1
    assert "kWh is not a number" in outcome.error
    assert interval(engine, "2025-01-01 06:15").quality == "filled"


def test_rebuild_rewrites_a_range_from_raw(engine, store, tmp_path):
    ingest_sample(engine, store, tmp_path, "IntervalMeterUsage_sample_fallback_unpadded.csv")
    before = snapshot(engine, usage_interval)
    u = usage_interval.c
    with engine.begin() as conn:  # damage the table: a changed value and a lost row
        conn.execute(usage_interval.update().where(u.ts_utc == dt.datetime(2025, 11, 2, 7, tzinfo=dt.timezone.utc))
                     .values(kwh=99.0))
        conn.execute(usage_interval.delete().where(u.ts_utc == dt.datetime(2025, 11, 2, 8, tzinfo=dt.timezone.utc)))
    result = rebuild_esiid_days(engine, store, "10443720009990001", dt.date(2025, 11, 2), dt.date(2025, 11, 2))
    assert result.rows_written == 100 and result.rows_deleted == 99
    assert snapshot(engine, usage_interval) == before
    again = rebuild_esiid_days(engine, store, "10443720009990001", dt.date(2025, 11, 1), dt.date(2025, 11, 3))
    assert again.rows_written == 292
    assert snapshot(engine, usage_interval) == before


def test_rebuild_of_several_homes_parses_each_file_once_and_leaves_other_homes(engine, store, tmp_path, monkeypatch):
    from intelliwatt_pipelines.ingest import normalize
    from intelliwatt_pipelines.ingest.rebuild import rebuild_homes_days

    text = (DATA / "IntervalMeterUsage_sample_fallback_unpadded.csv").read_text()
    body = text.split("\n", 1)[1]
    homes = ["10443720009990001", "10443720009990002", "10443720009990003"]
    data = text + "".join(body.replace(homes[0], h) for h in homes[1:])  # one file, three homes
    ingest_bytes(engine, store, tmp_path, data.encode(), "three_homes.csv")
    before = snapshot(engine, usage_interval)
    with engine.begin() as conn:  # damage every home the same way
        conn.execute(usage_interval.update().values(kwh=99.0))
    damaged = snapshot(engine, usage_interval)
    parses = []
    real = normalize._parse
    monkeypatch.setattr(normalize, "_parse", lambda *a, **k: parses.append(1) or real(*a, **k))
    result = rebuild_homes_days(engine, store, homes[:2], dt.date(2025, 11, 1), dt.date(2025, 11, 3))
    assert len(parses) == 1 and result.rows_written == 2 * 292
    after = snapshot(engine, usage_interval)
    assert [r for r in after if r[0] in homes[:2]] == [r for r in before if r[0] in homes[:2]]
    assert [r for r in after if r[0] == homes[2]] == [r for r in damaged if r[0] == homes[2]]


def day_rows(start: str = "0:00", end: str = "0:00", kwh: str = "0.25") -> dict:
    """Readings for one local day from ``start`` up to (not including) ``end`` (0:00 = midnight)."""
    to_min = lambda c: int(c.split(":")[0]) * 60 + int(c.split(":")[1])  # noqa: E731
    last = to_min(end) or 1440
    return {f"{m // 60}:{m % 60:02d}": (kwh, "A") for m in range(to_min(start), last, 15)}


def completeness_table(engine):
    with engine.connect() as conn:
        return sorted((str(r.local_date), r.expected_intervals, r.actual_intervals, r.filled_intervals, r.status)
                      for r in conn.execute(sa.select(daily_completeness)))


def two_deliveries() -> list[tuple[str, bytes]]:
    a = smt_rows("1/1/2025", "1/3/2025 7:00", day_rows()) \
        + smt_rows("1/2/2025", "1/3/2025 7:00", day_rows("0:00", "12:00")).split(b"\n", 1)[1]
    b = smt_rows("1/4/2025", "1/5/2025 7:00", day_rows())
    return [("a.csv", a), ("b.csv", b)]


def test_edge_days_are_partial_and_days_between_deliveries_are_gaps(engine, store, tmp_path):
    (name_a, a), (name_b, b) = two_deliveries()
    ingest_bytes(engine, store, tmp_path, a, name_a)
    assert completeness_table(engine) == [("2025-01-01", 96, 96, 0, "complete"), ("2025-01-02", 96, 48, 0, "partial")]
    ingest_bytes(engine, store, tmp_path, b, name_b)
    after = completeness_table(engine)
    assert after == [("2025-01-01", 96, 96, 0, "complete"), ("2025-01-02", 96, 48, 0, "gaps"),
                     ("2025-01-03", 96, 0, 0, "gaps"), ("2025-01-04", 96, 96, 0, "complete")]
    rebuild_esiid_days(engine, store, ESIID, dt.date(2025, 1, 1), dt.date(2025, 1, 4))
    assert completeness_table(engine) == after  # ingest and rebuild agree


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_completeness_does_not_depend_on_delivery_order(engine, store, tmp_path, postgres_url):
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    other = create_engine(postgres_url)
    migrate(other)
    for target, files in ((engine, two_deliveries()), (other, two_deliveries()[::-1])):
        for name, data in files:
            ingest_bytes(target, store, tmp_path, data, name)
    assert completeness_table(engine) == completeness_table(other)
    other.dispose()


def test_long_holes_get_no_placeholders_but_show_as_gap_days(engine, store, tmp_path):
    data = smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.5", "A")}) \
        + smt_rows("1/20/2025", "1/21/2025 7:00", {"0:00": ("0.5", "A")}).split(b"\n", 1)[1]
    outcome = ingest_bytes(engine, store, tmp_path, data, "holes.csv")
    assert outcome.rows_written == 2  # no 19 days of zeros
    table = completeness_table(engine)
    assert len(table) == 20 and table[1] == ("2025-01-02", 96, 0, 0, "gaps")


def test_a_parser_defect_fails_only_its_file(engine, store, tmp_path, monkeypatch):
    from intelliwatt_pipelines.ingest import normalize as ingest_normalize

    real_parse = ingest_normalize.parse_usage_file

    def flaky(data, filename="", **kwargs):
        if filename == "trips.csv":
            raise RuntimeError("parser defect")
        return real_parse(data, filename, **kwargs)

    monkeypatch.setattr(ingest_normalize, "parse_usage_file", flaky)
    bad = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", {"0:00": ("0.5", "A")}), "trips.csv")
    assert bad.status == "failed" and bad.error == "could not parse (RuntimeError): parser defect"
    good = ingest_sample(engine, store, tmp_path, "IntervalMeterUsage_sample_fallback_unpadded.csv")
    assert good.status == "normalized"


def test_at_a_full_tie_the_later_delivery_wins_in_a_batch_and_in_the_table(engine, store, tmp_path):
    same = "1/2/2025 7:00"
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", same, {"0:00": ("0.5", "A")}), "t1.csv")
    ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", same, {"0:00": ("0.7", "A")}), "t2.csv")
    assert interval(engine, "2025-01-01 06:00").kwh == 0.7
    # Both files replayed in one batch (a rebuild) pick the same winner.
    rebuild_esiid_days(engine, store, ESIID, dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    assert interval(engine, "2025-01-01 06:00").kwh == 0.7


def test_a_re_delivery_that_differs_in_one_interval_writes_exactly_that_one(engine, store, tmp_path):
    day = {"0:00": ("0.5", "E"), "0:15": ("0.6", "A"), "0:30": ("0.7", "A"), "0:45": ("0.8", "A")}
    first = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", day), "d1.csv")
    assert first.rows_written == 4
    before = snapshot(engine, usage_interval)
    # Identical rows as new bytes: found stored as delivered, nothing written.
    same = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", day) + b"\n", "d2.csv")
    assert same.rows_written == 0 and snapshot(engine, usage_interval) == before
    # The same day where only the estimate became an actual reading: that one row changes.
    upgraded = ingest_bytes(engine, store, tmp_path,
                            smt_rows("1/1/2025", "1/2/2025 7:00", {**day, "0:00": ("0.5", "A")}), "d3.csv")
    assert upgraded.rows_written == 1
    assert interval(engine, "2025-01-01 06:00")[:2] == (0.5, "actual")
    # A newer revision of one value among identical ones: that one row changes, with its revision.
    revised = ingest_bytes(engine, store, tmp_path,
                           smt_rows("1/1/2025", "1/3/2025 7:00", {**day, "0:00": ("0.5", "A"), "0:45": ("0.9", "A")}),
                           "d4.csv")
    assert revised.rows_written == 4  # the newer revision date is a change on every row it carries
    assert interval(engine, "2025-01-01 06:45").kwh == 0.9
    # The older revision delivered again changes nothing, though its rows differ from the stored ones.
    older = ingest_bytes(engine, store, tmp_path, smt_rows("1/1/2025", "1/2/2025 7:00", day) + b"\n\n", "d5.csv")
    assert older.rows_written == 0 and interval(engine, "2025-01-01 06:45").kwh == 0.9


def test_a_rebuild_makes_the_homes_monthly_buckets_stale(engine, store, tmp_path):
    """A rebuild rewrites intervals without normalizing a file again: the buckets must follow anyway."""
    from intelliwatt_pipelines.cdm.usage_buckets import homes_to_compute, keys_sha256
    from intelliwatt_pipelines.ingest.usage_buckets import compute_buckets
    from intelliwatt_pipelines.pricing.keys import CORE_MONTHLY_BUCKETS

    ingest_sample(engine, store, tmp_path, "IntervalMeterUsage_sample_fallback_unpadded.csv")
    compute_buckets(engine, CORE_MONTHLY_BUCKETS)
    sha = keys_sha256(CORE_MONTHLY_BUCKETS)
    with engine.connect() as conn:
        assert homes_to_compute(conn, sha) == []
    rebuild_esiid_days(engine, store, "10443720009990001", dt.date(2025, 11, 2), dt.date(2025, 11, 2))
    with engine.connect() as conn:
        assert homes_to_compute(conn, sha) == ["10443720009990001"]
    compute_buckets(engine, CORE_MONTHLY_BUCKETS)
    with engine.connect() as conn:
        assert homes_to_compute(conn, sha) == []
