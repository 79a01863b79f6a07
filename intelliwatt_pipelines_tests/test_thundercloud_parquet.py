"""ThunderCloud history parquet files (``sources.thundercloud_parquet``): small files written with pyarrow in the
test's tmp_path in each layout the column families allow (interval energy, cumulative register, unknown), their
detection by the PAR1 magic (before any text decoding) and the rows refused with their reasons. Customer codes
are 1PWR accounts: the Lesotho market."""

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intelliwatt_pipelines import kinds
from intelliwatt_pipelines.sources import ParsedIntervals, ParsedRegisterReads, ParseError, parse_usage_file
from intelliwatt_pipelines.sources.detect import USAGE_SOURCES
from intelliwatt_pipelines.sources.thundercloud_parquet import LayoutError, interval_lengths, parse

E040, E041 = "SMRSD-03-0002E040", "SMRSD-03-0002E041"
START = dt.datetime(2026, 2, 17, 10, 0)


@pytest.fixture(autouse=True)
def lesotho(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")


def parquet(tmp_path, columns: dict, name: str = "2026-02-17.parquet") -> bytes:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path.read_bytes()


def quarter_hours(n: int, start: dt.datetime = START) -> list[dt.datetime]:
    return [start + dt.timedelta(minutes=15 * i) for i in range(n)]


def test_an_interval_file_gives_actual_quarter_hours_in_utc_of_source_thundercloud(tmp_path):
    data = parquet(tmp_path, {
        "serial": [E040] * 4 + [E041] * 4, "customer_code": ["0005MAK"] * 4 + ["0006MAK"] * 4,
        "timestamp": quarter_hours(4) * 2,  # naive: UTC, as ThunderCloud's own import reads it
        "kilowatt_hours": [0.05, 0.07, None, 0.06, 0.0, 0.01, 0.02, 0.03], "avg_voltage": [230.1] * 8})
    assert data[:4] == b"PAR1" and b"\x00" in data  # binary: NUL bytes a text parser would refuse
    assert kinds.detect_kind(data[:kinds.HEAD_BYTES], "thundercloud_history_2026-02-17.parquet") == \
        kinds.THUNDERCLOUD_HISTORY_PARQUET
    parsed = parse_usage_file(data, "thundercloud_history_2026-02-17.parquet")
    assert isinstance(parsed, ParsedIntervals) and parsed.kind == kinds.THUNDERCLOUD_HISTORY_PARQUET
    assert USAGE_SOURCES[parsed.kind] == "thundercloud"
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_invalid, parsed.rows_skipped) == (8, 7, 0, 1)
    frame = parsed.frame
    assert set(frame["interval_minutes"]) == {15} and set(frame["quality"]) == {"actual"}
    assert set(frame["channel"]) == {"consumption"} and frame["revised_at"].isna().all()
    first = frame[frame["meter"] == E040].iloc[0]
    assert (first["esiid"], first["ts_utc"], first["kwh"]) == ("0005MAK", pd.Timestamp("2026-02-17 10:00", tz="UTC"),
                                                               0.05)
    # the row without energy is skipped, and the meter's clock still says quarter-hours
    assert frame[frame["meter"] == E040]["ts_utc"].dt.minute.tolist() == [0, 15, 45]


def test_other_names_of_the_families_an_aware_time_and_hourly_energy(tmp_path):
    # From a pandas Series: pa.array(aware datetimes, type=...) takes their wall times for UTC once pandera
    # is imported (in a test session it is), which would write a wrong file, not test the reading.
    at = pd.Series(pd.date_range("2026-02-17 12:00", periods=3, freq="h", tz="Africa/Maseru"))
    data = parquet(tmp_path, {"Meter_Serial_Number": pa.array([E040] * 3), " CODE ": pa.array(["0005MAK"] * 3),
                              "datetime": pa.Array.from_pandas(at), "kwh": pa.array([1, 2, 3], type=pa.int32())})
    parsed = parse(data)
    assert parsed.rows_valid == 3 and set(parsed.frame["interval_minutes"]) == {60}
    assert pq.read_table(pa.BufferReader(data)).schema.field("datetime").type == pa.timestamp("us", tz="Africa/Maseru")
    assert parsed.frame["ts_utc"].iloc[0] == pd.Timestamp("2026-02-17 10:00", tz="UTC")
    assert parsed.frame["kwh"].tolist() == [1.0, 2.0, 3.0]


def test_a_register_file_gives_register_reads_of_source_thundercloud(tmp_path):
    data = parquet(tmp_path, {"meter_serial": [E040, E040, E041], "code": ["0005MAK", "0005MAK", "0006MAK"],
                              "reading_timestamp": ["2026-02-17T10:00:00", "2026-02-17T10:15:00+00:00",
                                                    "2026-02-17T12:15:00+02:00"],
                              "total_cycle_energy": [1534.27, 1534.42, 88.01]})
    parsed = parse_usage_file(data, "thundercloud_history_2026-02-17.parquet")
    assert isinstance(parsed, ParsedRegisterReads) and parsed.source == "thundercloud"
    assert parsed.frame.values.tolist() == [
        ["0005MAK", E040, pd.Timestamp("2026-02-17 10:00", tz="UTC"), 1534.27],
        ["0005MAK", E040, pd.Timestamp("2026-02-17 10:15", tz="UTC"), 1534.42],
        ["0006MAK", E041, pd.Timestamp("2026-02-17 10:15", tz="UTC"), 88.01]]


def test_with_both_energy_families_the_interval_energy_is_used(tmp_path):
    data = parquet(tmp_path, {"serial": [E040] * 2, "customer": ["0005MAK"] * 2, "time": quarter_hours(2),
                              "register_kwh": [10.0, 10.1], "energy_kwh": [0.1, 0.1]})
    assert isinstance(parse(data), ParsedIntervals)


def test_an_unknown_layout_names_the_columns_found_and_the_families_tried(tmp_path):
    data = parquet(tmp_path, {"serial": [E040], "customer_code": ["0005MAK"], "timestamp": [START],
                              "avg_true_power": [0.2]})
    with pytest.raises(LayoutError) as err:
        parse_usage_file(data, "thundercloud_history_2026-02-17.parquet")
    message = str(err.value)
    assert "serial, customer_code, timestamp, avg_true_power" in message
    assert "interval: kilowatt_hours, kwh, energy_kwh" in message and "register: total_cycle_energy" in message
    no_meter = parquet(tmp_path, {"code": ["0005MAK"], "time": [START], "kwh": [0.1]}, "b.parquet")
    with pytest.raises(LayoutError, match=r"columns found \[code, time, kwh\]"):
        parse(no_meter)


def test_bad_rows_are_counted_with_their_reasons_and_no_account_in_them(tmp_path):
    data = parquet(tmp_path, {
        "serial": [E040] * 4 + [E041] * 2 + ["=cmd()"],
        "customer_code": ["0005MAK", "5MAK", "0005MAK", "0005MAK", "0006MAK", "0006MAK", "0007MAK"],
        "timestamp": [*map(str, quarter_hours(4)), *map(str, quarter_hours(2)), "not a time"],  # ISO 8601 text
        "kilowatt_hours": ["0.1", "0.1", "-0.2", "lots", "0.1", "0.2", "0.1"]})
    parsed = parse(data)
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_invalid) == (7, 3, 4)
    reasons = " | ".join(parsed.problems)
    assert "customer_code is not NNNNSSS" in reasons and "(lesotho market): 1 reading(s)" in reasons
    assert "kWh is negative: 1 reading(s)" in reasons and "kWh is not a number: 1 reading(s)" in reasons
    assert "meter id is not" in reasons
    assert "5MAK" not in reasons.replace("0005MAK", "")  # reasons never quote an account
    assert set(parsed.frame["esiid"]) == {"0005MAK", "0006MAK"}


def test_a_spacing_that_is_no_interval_length_and_times_off_the_grid_are_refused(tmp_path):
    twenty = [START + dt.timedelta(minutes=20 * i) for i in range(3)]
    data = parquet(tmp_path, {"serial": [E040] * 3 + [E041] * 3, "code": ["0005MAK"] * 3 + ["0006MAK"] * 3,
                              "timestamp": twenty + [START, START + dt.timedelta(minutes=22),
                                                     START + dt.timedelta(minutes=30)],
                              "kwh": [0.1] * 6})
    parsed = parse(data)
    # E040 every 20 minutes: refused; E041 15 minutes (the median of 22 and 8), its 10:22 off that grid
    assert parsed.rows_valid == 2 and set(parsed.frame["meter"]) == {E041}
    assert parsed.problems == ["median spacing of the meter's readings is not 5, 15, 30, 60 minutes: 3 reading(s)",
                               "timestamp is not on the meter's interval grid: 1 reading(s)"]


def test_one_reading_per_meter_takes_the_file_spacing_or_is_refused_without_one(tmp_path):
    frame = pd.DataFrame({"esiid": ["A", "A", "B"], "meter": ["1", "1", "2"],
                          "ts_utc": pd.to_datetime(["2026-02-17 10:00", "2026-02-17 10:30", "2026-02-17 11:00"],
                                                   utc=True)})
    assert interval_lengths(frame).tolist() == [30, 30, 30]
    single = parquet(tmp_path, {"serial": [E040], "code": ["0005MAK"], "timestamp": [START], "kwh": [0.1]})
    parsed = parse(single)
    assert parsed.rows_valid == 0 and parsed.problems == ["interval length unknown: one reading per meter in the "
                                                          "file: 1 reading(s)"]


def test_bytes_that_only_start_like_parquet_are_a_parse_error():
    with pytest.raises(ParseError, match="not a readable parquet file"):
        parse_usage_file(b"PAR1\x15\x04\x15\x10" + b"\x00" * 16 + b"PAR1", "x.parquet")
