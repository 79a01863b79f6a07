"""Plausible time and safe text at ingest (issue 16): the reading-date window, the span per file and
series, meter ids, the kWh bound shared with the pandera schema, and ``-0.0`` stored as ``0.0``."""

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.cdm.schemas import usage_interval_schema
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    daily_completeness,
    raw_file,
    raw_file_coverage,
    usage_interval,
)
from intelliwatt_pipelines.ingest import capture_file, normalize
from intelliwatt_pipelines.ingest.sidecar import parse_sidecar
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines.sources import ParseError, parse_usage_file
from intelliwatt_pipelines.sources.frames import ReadingWindow
from intelliwatt_pipelines.sources.green_button import Binding
from intelliwatt_pipelines.sources.green_button import parse as parse_green_button
from intelliwatt_pipelines_tests.test_green_button import gb_feed

ESIID = "10443720000000001"
SMT_HEADER = ("ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,"
              "CONSUMPTION_SURPLUSGENERATION\n")
LOCAL_HEADER = "ESIID,Meter,Start Date/Time,Usage (kWh)\n"
DAILY_HEADER = "ESIID,METER_NUMBER,USAGE_DATE,REVISION_DATE,USAGE_KWH\n"
METER_REASON = "meter id is not [A-Za-z0-9._-]{1,40}"


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("America/Chicago")).date()


def smt_days(esiids, days, raw: bool = True) -> bytes:
    """One SMT interval CSV holding every ESIID's ``days`` (96 or so rows a day)."""
    parts = [smt_interval_csv(e, days, seed=i, raw=raw).decode().splitlines() for i, e in enumerate(esiids)]
    lines = parts[0] + [line for p in parts[1:] for line in p[1:]]
    return ("\r\n".join(lines) + "\r\n").encode()


def smt_day(day: dt.date, kwh: str = "0.5", esiid: str = ESIID) -> str:
    """SMT rows for a day's first hour, revised at the day's midnight (never later than now + 1 day
    for a day up to tomorrow)."""
    date = f"{day.month}/{day.day}/{day.year}"
    clocks = ["0:00", "0:15", "0:30", "0:45", "1:00"]
    return "".join(f"'{esiid},{date},{date} 0:00,{a},{b},{kwh},A,Consumption\n" for a, b in zip(clocks, clocks[1:], strict=False))


def ingest(engine, store, tmp_path, data: bytes, name: str = "IntervalMeterUsage.csv", **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    captured = capture_file(engine, store, path, source="test")
    return normalize.normalize_raw_file(engine, store, captured.raw_file_id, **kwargs)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def file_row(engine, raw_file_id: int):
    with engine.connect() as conn:
        return conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).one()


def assert_refused_whole(engine, store, outcome) -> None:
    row = file_row(engine, outcome.raw_file_id)
    assert outcome.status == row.status == "failed" and row.error == outcome.error
    assert store.get(row.sha256)  # raw kept
    for table in (usage_interval, daily_completeness, raw_file_coverage):
        assert count(engine, table) == 0, table.name


# --- the span bomb -----------------------------------------------------------------------------

ESIIDS_50 = [f"104437200000{i:05d}" for i in range(50)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("first, last, reason", [
    # the file of the issue: 50 ESIIDs, a day in 2000 and one in 2099, ~750 KB
    (dt.date(2000, 6, 1), dt.date(2099, 6, 1), "USAGE_DATE is before 2005-01-01: 4800 row(s)"),
    # the same inside the window: the span refuses it whole, before any placeholder or completeness
    (dt.date(2005, 1, 2), dt.date(2025, 6, 1), "spans 2005-01-02..2025-06-01 (7,456 days), more than "
                                                "INTELLIWATT_MAX_SPAN_DAYS=800"),
])
def test_the_span_bomb_fails_quickly_with_a_reason_and_writes_nothing(engine, store, tmp_path, first, last, reason):
    data = smt_days(ESIIDS_50, [first, last], raw=False)
    assert 700_000 < len(data) < 800_000
    outcome = ingest(engine, store, tmp_path, data, max_invalid_fraction=0.5)
    assert reason in outcome.error
    assert_refused_whole(engine, store, outcome)
    assert not any(e in outcome.error for e in ESIIDS_50)  # masked


def test_the_bomb_fails_even_when_every_invalid_row_is_tolerated(engine, store, tmp_path):
    outcome = ingest(engine, store, tmp_path, smt_days(ESIIDS_50[:3], [dt.date(2000, 6, 1), dt.date(2099, 6, 1)]),
                     max_invalid_fraction=1.0)
    assert outcome.error == "file holds no readings" and outcome.rows_invalid == outcome.rows_read == 576
    assert_refused_whole(engine, store, outcome)


def test_one_series_spanning_fifteen_years_fails_whole_with_the_span(engine, store, tmp_path):
    outcome = ingest(engine, store, tmp_path, smt_days([ESIID], [dt.date(2010, 1, 1), dt.date(2025, 1, 1)]))
    assert "spans 2010-01-01..2025-01-01 (5,480 days), more than INTELLIWATT_MAX_SPAN_DAYS=800" in outcome.error
    assert "esiid#" in outcome.error and ESIID not in outcome.error
    assert_refused_whole(engine, store, outcome)


def test_the_span_is_per_series_and_configurable(engine, store, tmp_path):
    days = date_range(dt.date(2025, 6, 1), dt.date(2025, 6, 10))
    data = smt_days([ESIID, "10443720000000002"], days)
    tight = ingest(engine, store, tmp_path, data, window=ReadingWindow(max_span_days=9))
    assert "(10 days), more than INTELLIWATT_MAX_SPAN_DAYS=9" in tight.error
    assert_refused_whole(engine, store, tight)
    # two series of ten days each: ten days is what counts, not the two together
    assert ingest(engine, store, tmp_path, data, window=ReadingWindow(max_span_days=10)).status == "normalized"


@pytest.mark.timeout(120)
def test_a_streamed_file_is_refused_at_the_chunk_that_passes_the_span_and_rolled_back(engine, store, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setattr(normalize, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(normalize, "STREAM_CHUNK_ROWS", 100)
    chunks = []
    original = normalize.smt_interval.parse_chunks
    monkeypatch.setattr(normalize.smt_interval, "parse_chunks",
                        lambda *a, **k: (chunks.append(1) or c for c in original(*a, **k)))
    days = date_range(dt.date(2023, 1, 1), dt.date(2023, 1, 4)) + [dt.date(2025, 6, 1)]
    outcome = ingest(engine, store, tmp_path, smt_days([ESIID], days))
    assert len(chunks) > 3  # the first days were written before the span was passed
    assert "spans 2023-01-01..2025-06-01 (883 days)" in outcome.error
    assert outcome.rows_written == 0
    assert_refused_whole(engine, store, outcome)


# --- the reading-date window -------------------------------------------------------------------


def test_rows_before_the_floor_are_invalid_and_the_file_lands_or_fails_as_usual(engine, store, tmp_path):
    data = smt_days([ESIID], [dt.date(2003, 6, 1)] + date_range(dt.date(2025, 6, 1), dt.date(2025, 6, 9)))
    strict = ingest(engine, store, tmp_path, data)
    assert strict.status == "failed" and "96 of 960 rows invalid; USAGE_DATE is before 2005-01-01: 96 row(s)" \
        in strict.error
    assert_refused_whole(engine, store, strict)

    tolerant = ingest(engine, store, tmp_path, data, max_invalid_fraction=0.2)
    assert tolerant.status == "normalized" and tolerant.rows_invalid == 96
    assert "USAGE_DATE is before 2005-01-01: 96 row(s), line 2, 3, 4, 5, 6 and 91 more" in tolerant.error
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.min(daily_completeness.c.local_date))).scalar_one() \
            == dt.date(2025, 6, 1)
        assert conn.execute(sa.select(sa.func.count()).select_from(daily_completeness)).scalar_one() == 9


def test_a_row_dated_the_day_after_tomorrow_and_later_is_invalid():
    now = today()
    text = SMT_HEADER + smt_day(now - dt.timedelta(days=1)) + smt_day(now + dt.timedelta(days=3))
    parsed = parse_usage_file(text.encode())
    assert (parsed.rows_valid, parsed.rows_invalid) == (4, 4)
    assert parsed.problems == ["USAGE_DATE is later than now + 1 day(s): 4 row(s), line 6, 7, 8, 9"]
    # the window is configurable: three days ahead allowed
    assert parse_usage_file(text.encode(), window=ReadingWindow(future_days=4)).rows_invalid == 0


@pytest.mark.parametrize("text, reason", [
    ("timestamp,kwh\n2004-12-31T05:45:00Z,0.1\n2025-01-01T00:00:00Z,0.1\n", "timestamp is before 2005-01-01"),
    (f"timestamp,kwh\n{dt.date.today() + dt.timedelta(days=3)}T00:00:00Z,0.1\n2025-01-01T00:00:00Z,0.1\n",
     "timestamp is later than now + 1 day(s)"),
    (LOCAL_HEADER + f"{ESIID},M1,2003-01-01T00:00,0.1\n{ESIID},M1,2025-01-01T00:00,0.1\n",
     "Start Date/Time is before 2005-01-01"),
])
def test_the_simple_csvs_apply_the_window(text, reason):
    parsed = parse_usage_file(text.encode(), f"usage_{ESIID}.csv")
    assert (parsed.rows_valid, parsed.rows_invalid) == (1, 1) and reason in parsed.problems[0]


def test_green_button_applies_the_window():
    ok = int(pd.Timestamp("2025-06-01 05:00", tz="UTC").timestamp())
    late = int(pd.Timestamp("2099-06-01 05:00", tz="UTC").timestamp())
    early = int(pd.Timestamp("2004-06-01 05:00", tz="UTC").timestamp())
    parsed = parse_green_button(gb_feed([(ok, 900, 100), (late, 900, 100), (late + 900, 900, 100), (early, 900, 1)]),
                                Binding(esiid=ESIID))
    assert (parsed.rows_valid, parsed.rows_invalid) == (1, 3)
    assert parsed.problems == ["reading start is before 2005-01-01: 1 reading(s)",
                               "reading start is later than now + 1 day(s): 2 reading(s)"]


def test_a_green_button_feed_in_2099_fails_and_writes_nothing(engine, store, tmp_path):
    late = int(pd.Timestamp("2099-06-01 05:00", tz="UTC").timestamp())
    data = gb_feed([(late + 900 * i, 900, 100) for i in range(96)])
    outcome = ingest(engine, store, tmp_path, data, name=f"gb_{ESIID}.xml")
    assert "96 of 96 rows invalid; reading start is later than now + 1 day(s): 96 reading(s)" in outcome.error
    assert_refused_whole(engine, store, outcome)


def test_billing_reads_apply_the_window_and_the_span():
    text = (DAILY_HEADER + f"{ESIID},M1,06/01/2003,06/02/2003 08:00:00,10\n"
            f"{ESIID},M1,06/01/2025,06/02/2025 08:00:00,10\n{ESIID},M1,06/01/2099,06/02/2025 08:00:00,10\n")
    parsed = parse_usage_file(text.encode(), "DailyMeterUsage.csv")
    assert (parsed.rows_valid, parsed.rows_invalid) == (1, 2)
    assert parsed.problems == ["USAGE_DATE is before 2005-01-01: 1 row(s), line 2",
                               "USAGE_DATE is later than now + 1 day(s): 1 row(s), line 4"]
    far = DAILY_HEADER + f"{ESIID},M1,06/01/2010,,10\n{ESIID},M1,06/01/2025,,10\n"
    with pytest.raises(ParseError, match=r"spans 2010-06-01\.\.2025-06-01 \(5,480 days\)"):
        parse_usage_file(far.encode(), "DailyMeterUsage.csv")


# --- meter ids ---------------------------------------------------------------------------------

BAD_METERS = ['"=HYPERLINK(""http://x"",""y"")"', "@x", "+1", '"a\tb"', '"a\rb"', "x" * 41, "m\u00e9"]


def test_meter_ids_outside_the_shared_pattern_are_invalid_rows():
    good = [f"{ESIID},-x,2025-06-01T00:00,0.1\n", f"{ESIID},M.1_2-3,2025-06-01T00:15,0.1\n"]
    bad = [f"{ESIID},{m},2025-06-01T0{1 + i // 4}:{15 * (i % 4):02d},0.1\n" for i, m in enumerate(BAD_METERS)]
    parsed = parse_usage_file((LOCAL_HEADER + "".join(good + bad)).encode())
    assert (parsed.rows_valid, parsed.rows_invalid) == (2, len(BAD_METERS))
    assert parsed.problems == [f"{METER_REASON}: 7 row(s), line 4, 5, 6, 7, 8 and 2 more"]
    assert set(parsed.frame["meter"]) == {"-x", "M.1_2-3"}  # '-x' matches: the API neutralizes CSV cells


@pytest.mark.parametrize("meter", ["=1+2", "@x", "a b"])
def test_meter_hints_and_billing_meters_are_checked_too(meter):
    interval = parse_usage_file((SMT_HEADER + smt_day(dt.date(2025, 6, 1))).encode(), meter=meter)
    assert interval.rows_valid == 0 and interval.problems == [f"{METER_REASON}: 4 row(s), line 2, 3, 4, 5"]
    daily = parse_usage_file((DAILY_HEADER + f"{ESIID},{meter},06/01/2025,,10\n").encode(), "DailyMeterUsage.csv")
    assert daily.rows_valid == 0 and daily.problems == [f"{METER_REASON}: 1 row(s), line 2"]
    start = int(pd.Timestamp("2025-06-01 05:00", tz="UTC").timestamp())
    feed = parse_green_button(gb_feed([(start, 900, 100)]), Binding(esiid=ESIID, meter=meter))
    assert feed.rows_valid == 0 and feed.problems == [f"{METER_REASON}: 1 reading(s)"]


def test_a_sidecar_meter_must_match_the_whole_pattern():
    assert parse_sidecar(b'{"meter": "M-1"}').meter == "M-1"
    # '$' also matches before a final newline: the whole value must match
    assert "meter must be" in parse_sidecar(b'{"meter": "M1\\n"}').error


def test_a_bad_meter_never_reaches_the_warehouse(engine, store, tmp_path):
    text = LOCAL_HEADER + f"{ESIID},M1,2025-06-01T00:00,0.1\n{ESIID},@SUM(A1),2025-06-01T00:15,0.1\n"
    outcome = ingest(engine, store, tmp_path, text.encode(), name="usage.csv", max_invalid_fraction=0.5)
    assert outcome.status == "normalized" and outcome.rows_invalid == 1
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(usage_interval.c.meter).distinct()).scalars()) == {"M1"}


# --- kWh bound and negative zero ---------------------------------------------------------------


def test_one_bound_for_interval_kwh_in_the_parser_and_the_schema(engine, store, tmp_path):
    day = dt.date(2025, 6, 1)
    rows = smt_day(day, "0.5").splitlines(keepends=True)
    rows[1] = rows[1].replace(",0.5,", ",5000,")
    rows[2] = rows[2].replace(",0.5,", f",{bounds.MAX_INTERVAL_KWH:.0f},")
    rows[3] = rows[3].replace(",0.5,", ",999.999,")
    outcome = ingest(engine, store, tmp_path, (SMT_HEADER + "".join(rows)).encode(), max_invalid_fraction=0.5)
    assert outcome.status == "normalized" and outcome.rows_invalid == 2
    assert "kWh is 1,000 or more for one interval: 2 row(s), line 3, 4" in outcome.error
    with engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(sa.select(usage_interval)).mappings().all())
    assert sorted(stored["kwh"]) == [0.0, 0.0, 0.5, 999.999]  # the two refused slots are placeholders
    stored["ts_utc"] = pd.to_datetime(stored["ts_utc"], utc=True).astype("datetime64[us, UTC]")
    usage_interval_schema.validate(stored)  # what landed passes the check
    big = stored.assign(kwh=stored["kwh"].where(stored["kwh"] < 999, bounds.MAX_INTERVAL_KWH))
    with pytest.raises(Exception, match="less_than"):
        usage_interval_schema.validate(big)


def test_green_button_applies_the_kwh_bound():
    start = int(pd.Timestamp("2025-06-01 05:00", tz="UTC").timestamp())
    parsed = parse_green_button(gb_feed([(start, 900, 5_000_000), (start + 900, 900, 100)]), Binding(esiid=ESIID))
    assert (parsed.rows_valid, parsed.rows_invalid) == (1, 1)
    assert parsed.problems == ["energy of 1,000 kWh or more in one interval: 1 reading(s)"]


def test_negative_zero_is_stored_as_zero(engine, store, tmp_path):
    rows = smt_day(dt.date(2025, 6, 1), "-0.0")
    outcome = ingest(engine, store, tmp_path, (SMT_HEADER + rows).encode())
    assert outcome.status == "normalized"
    daily = DAILY_HEADER + f"{ESIID},M1,06/01/2025,,-0.0\n"
    assert ingest(engine, store, tmp_path, daily.encode(), name="DailyMeterUsage.csv").status == "normalized"
    with engine.connect() as conn:
        kwh = list(conn.execute(sa.select(usage_interval.c.kwh)).scalars())
        totals = list(conn.execute(sa.select(billing_read.c.kwh_total)).scalars())
        sums = list(conn.execute(sa.select(daily_completeness.c.kwh_real)).scalars())
    assert len(kwh) == 4 and len(totals) == 1 and len(sums) == 1
    for value in kwh + totals + sums:
        assert value == 0.0 and math.copysign(1, value) == 1
