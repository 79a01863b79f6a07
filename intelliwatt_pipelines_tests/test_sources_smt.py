"""SMT interval parsing: both renderings, both channels, DST days whole, bad rows counted."""

import datetime as dt

import pandas as pd
import pytest

from intelliwatt_pipelines.cdm.normalize import local_dates
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines.sources import ParseError, parse_usage_file
from intelliwatt_pipelines_tests.conftest import DATA

CHANNEL = {"Consumption": "consumption", "Surplus Generation": "generation"}
HEADER = ("ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,"
          "CONSUMPTION_SURPLUSGENERATION\n")


def parse(name: str):
    return parse_usage_file((DATA / name).read_bytes(), name)


@pytest.mark.parametrize("name", ["IntervalMeterUsage_sample_fallback_unpadded.csv",
                                  "IntervalMeterUsage_sample_spring_padded_two_channels.csv"])
def test_samples_match_expected_counts_and_kwh(name, expected):
    result = parse(name)
    frame = result.frame
    assert set(frame["esiid"]) == {expected[name]["esiid"]}
    days = frame.assign(day=local_dates(frame["ts_utc"]).astype(str)).groupby(["day", "channel"])
    for want in expected[name]["days"]:
        got = days.get_group((want["date"], CHANNEL[want["channel"]]))
        assert len(got) == want["intervals"]
        assert got["ts_utc"].nunique() == want["intervals"]
        assert round(got["kwh"].sum(), 3) == pytest.approx(want["kwh"], abs=1e-9)
    assert result.rows_invalid == 0


def test_fall_back_day_is_100_contiguous_utc_intervals():
    frame = parse("IntervalMeterUsage_sample_fallback_unpadded.csv").frame
    day = frame[local_dates(frame["ts_utc"]) == dt.date(2025, 11, 2)].sort_values("ts_utc")
    assert len(day) == 100
    steps = day["ts_utc"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(minutes=15)]
    assert day["ts_utc"].iloc[0] == pd.Timestamp("2025-11-02 05:00", tz="UTC")  # local midnight CDT
    # The malformed "2:00,1:15" row is the first standard-time interval, 01:00 CST = 07:00 UTC.
    assert day.set_index("ts_utc").loc[pd.Timestamp("2025-11-02 07:00", tz="UTC"), "kwh"] == 1.084


def test_spring_forward_day_drops_only_the_four_nonexistent_rows():
    result = parse("IntervalMeterUsage_sample_spring_padded_two_channels.csv")
    assert result.rows_skipped == 8  # four per channel
    frame = result.frame
    day = frame[(local_dates(frame["ts_utc"]) == dt.date(2026, 3, 8)) & (frame["channel"] == "consumption")]
    assert len(day) == 92
    assert list(day.sort_values("ts_utc")["ts_utc"].diff().dropna().unique()) == [pd.Timedelta(minutes=15)]


def test_22_digit_esiid_keeps_every_digit_and_revision_is_utc():
    frame = parse("IntervalMeterUsage_sample_spring_padded_two_channels.csv").frame
    assert set(frame["esiid"]) == {"1008901023817895470106"}
    # 03/08/2026 12:09:06 Central (CDT since 02:00 that day) = 17:09:06 UTC
    assert pd.Timestamp("2026-03-08 17:09:06", tz="UTC") in set(frame["revised_at"])


def test_estimated_flags_map_to_quality():
    frame = parse("IntervalMeterUsage_sample_fallback_unpadded.csv").frame
    assert (frame["quality"] == "estimated").sum() == 12
    assert set(frame["quality"]) == {"actual", "estimated"}


def test_simple_local_format():
    result = parse("simple_tiny.csv")
    frame = result.frame
    assert list(frame["meter"].unique()) == ["M1"]
    assert frame["ts_utc"].iloc[0] == pd.Timestamp("2025-10-10 13:00", tz="UTC")  # 08:00 CDT
    assert frame["kwh"].sum() == pytest.approx(0.98)
    assert set(frame["interval_minutes"]) == {15}


def test_timestamp_kwh_format_needs_an_esiid_hint():
    data = b"timestamp,kwh\n2025-01-01T00:00:00Z,0.5\n2025-01-01T00:15:00Z,0.25\n"
    with pytest.raises(ParseError, match="no ESIID"):
        parse_usage_file(data, "usage.csv")
    result = parse_usage_file(data, "usage_10443720000000009.csv")
    assert set(result.frame["esiid"]) == {"10443720000000009"}
    assert result.frame["ts_utc"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC")


@pytest.mark.parametrize("raw", [True, False])
def test_generated_year_both_renderings(raw):
    data = smt_interval_csv("10443720004766435", date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), raw=raw)
    result = parse_usage_file(data)
    assert (result.rows_read, result.rows_valid, result.rows_invalid, result.rows_skipped) == (35044, 35040, 0, 4)
    assert result.frame["ts_utc"].is_unique


@pytest.mark.parametrize("data, message", [
    (b"ESIID,USAGE_DATE,FOO\n'10443720000000001,1/1/2025,x\n", "unexpected SMT interval header"),
    (b"hello,world\n1,2\n", "unrecognized usage file header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"\xff\xfe\xfa garbage", "not UTF-8"),
    (b"", "empty"),
])
def test_unreadable_files_raise_a_readable_parse_error(data, message):
    with pytest.raises(ParseError, match=message):
        parse_usage_file(data, "x.csv")


def test_bad_rows_are_counted_with_line_numbers():
    rows = [
        "'10443720000000001,1/1/2025,1/2/2025 7:00,0:00,0:15,0.5,A,Consumption",
        "'10443720000000001,1/1/2025,1/2/2025 7:00,0:15,0:30,abc,A,Consumption",
        "'10443720000000001,1/1/2025,1/2/2025 7:00,0:30,0:45,-1.0,A,Consumption",
        "'1044372000000000,1/1/2025,1/2/2025 7:00,0:45,1:00,0.2,A,Consumption",
        "'10443720000000001,13/45/2025,1/2/2025 7:00,1:00,1:15,0.2,A,Consumption",
        "'10443720000000001,1/1/2025,1/2/2025 7:00,1:15,1:30,0.2,X,Consumption",
    ]
    result = parse_usage_file((HEADER + "\n".join(rows) + "\n").encode())
    assert (result.rows_read, result.rows_valid, result.rows_invalid) == (6, 1, 5)
    text = "; ".join(result.problems)
    assert "kWh is not a number: 1 row(s), line 3" in text
    assert "kWh is negative: 1 row(s), line 4" in text
    assert "ESIID is not 17 or 22 digits: 1 row(s), line 5" in text
    assert "USAGE_DATE is not a date: 1 row(s), line 6" in text
    assert "ESTIMATED_ACTUAL is not A or E: 1 row(s), line 7" in text


def test_a_reading_inside_the_spring_forward_gap_is_invalid():
    row = "'10443720000000001,3/8/2026,3/9/2026 7:00,2:15,2:30,0.4,A,Consumption\n"
    result = parse_usage_file((HEADER + row).encode())
    assert result.rows_invalid == 1 and result.rows_valid == 0
    assert "does not exist" in result.problems[0]


def test_duplicate_rows_identical_are_skipped_conflicting_are_invalid():
    base = "'10443720000000001,1/1/2025,1/2/2025 7:00,0:00,0:15,{},A,Consumption\n"
    same = parse_usage_file((HEADER + base.format("0.5") * 2).encode())
    assert (same.rows_valid, same.rows_skipped, same.rows_invalid) == (1, 1, 0)
    clash = parse_usage_file((HEADER + base.format("0.5") + base.format("0.7")).encode())
    assert (clash.rows_valid, clash.rows_invalid) == (1, 1)
    assert "repeated with a different value" in clash.problems[0]


LOCAL = "ESIID,Meter,Start Date/Time,Usage (kWh)\n"
SMT_ROW = "'10443720000000001,{date},1/2/2025 7:00,{start},{end},{kwh},A,Consumption\n"


@pytest.mark.parametrize("data, outcome", [
    (LOCAL + "10443720000000001,M1,2025-10-10T08:00Z,0.2\n10443720000000001,M1,2025-10-10T08:15,0.2\n",
     "invalid:not a local ISO date-time"),
    (LOCAL + "10443720000000001,M1,9999-12-31T23:45,0.2\n", "invalid:Start Date/Time is later than now + 1 day"),
    (HEADER + SMT_ROW.format(date="12/31/9999", start="0:00", end="0:15", kwh="0.5"),
     "invalid:USAGE_DATE is later than now + 1 day"),
    (HEADER + SMT_ROW.format(date="1/1/0001", start="0:00", end="0:15", kwh="0.5"),
     "invalid:USAGE_DATE is before 2005-01-01"),
    (HEADER + SMT_ROW.format(date="2/30/2025", start="0:00", end="0:15", kwh="0.5"), "invalid:USAGE_DATE is not a date"),
    (HEADER + SMT_ROW.format(date="1/3/2025", start="0:00", end="0:15", kwh="0.5"), "invalid:after REVISION_DATE"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="0:00", end="0:30", kwh="0.5"), "invalid:not 15 minutes"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="24:15", end="24:30", kwh="0.5"), "invalid:not a clock time"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="0:00", end="0:15", kwh="1e308"), "invalid:kWh is 1,000 or more"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="0:00", end="0:15", kwh="inf"), "invalid:kWh is not finite"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="0:00", end="0:15", kwh="nan"), "invalid:kWh is not a number"),
    (HEADER + "'١٠٤٤٣٧٢٠٠٠٠٠٠٠٠٠١,1/1/2025,1/2/2025 7:00,0:00,0:15,0.5,A,Consumption\n", "invalid:ESIID"),
    (HEADER + SMT_ROW.format(date="1/1/2025", start="0:00", end="0:15", kwh="0.5").strip() + ",extra\n", "error:malformed CSV"),
    (HEADER + "'10443720000000001,\"1/1/2025\n", "error:malformed CSV"),
    ("timestamp,kwh\n0000-01-01T00:00:00Z,0.1\n", "invalid:timestamp is before 2005-01-01"),
    ("timestamp,kwh\n2025-01-01T00:00:00,0.1\n", "invalid:not an ISO instant"),
    ("timestamp,kwh\n2025-01-01T00:00:00Z,0.1\n2025-01-01T00:00:30Z,0.1\n2025-01-01T00:01:00Z,0.1\n",
     "error:supported interval lengths"),
    (HEADER, "ok"),
])
def test_hostile_input_is_a_parse_error_or_counted_never_a_crash(data, outcome):
    """Anything odd ends as the project's ParseError or as counted invalid rows; no other exception."""
    expect, _, text = outcome.partition(":")
    try:
        result = parse_usage_file(data.encode(), "usage_10443720000000001.csv")
    except ParseError as exc:
        assert expect == "error" and text in str(exc)
        return
    assert expect != "error", "expected a ParseError"
    if expect == "invalid":
        assert result.rows_invalid >= 1 and text in "; ".join(result.problems)
    else:
        assert result.rows_invalid == 0 and result.frame.empty


@pytest.mark.parametrize("name, day, usage_date", [
    ("IntervalMeterUsage_sample_fallback_unpadded.csv", dt.date(2025, 11, 2), "11/2/2025"),
    ("IntervalMeterUsage_sample_spring_padded_two_channels.csv", dt.date(2026, 3, 8), "03/08/2026"),
])
def test_generator_writes_dst_days_exactly_as_real_smt_files(name, day, usage_date):
    """The generated year files stand for real exports only if their DST days have the same rows."""
    import csv
    import io

    from intelliwatt_pipelines.samples import day_slots

    rows = [r for r in csv.DictReader(io.StringIO((DATA / name).read_text()))
            if r["USAGE_DATE"] == usage_date and r["CONSUMPTION_SURPLUSGENERATION"] == "Consumption"]
    real = [(r["USAGE_START_TIME"].strip().zfill(5), r["USAGE_END_TIME"].strip().zfill(5), bool(r["USAGE_KWH"].strip()))
            for r in rows]
    generated = [(s.strftime("%H:%M"), e.strftime("%H:%M"), exists) for s, e, exists in day_slots(day)]
    assert generated == real
