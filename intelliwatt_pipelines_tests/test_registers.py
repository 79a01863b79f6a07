"""Cumulative registers -> interval energy, unit-embedded values and 1PWR identities (vendor-apis.md §3),
on the synthetic fixtures §3 asks for."""

import pandas as pd
import pytest

from intelliwatt_pipelines.sources.onepwr_ids import (
    IdentityError,
    account_number,
    onemeter_id,
    sparkmeter_short_code,
)
from intelliwatt_pipelines.sources.registers import (
    QuantityError,
    RegisterRules,
    parse_quantity,
    register_intervals,
)

METER = "23022628"  # 0005MAK's 1Meter


def reads(pairs: list[tuple[str, object]], meter: str = METER) -> pd.DataFrame:
    """(UTC time, register value as delivered: "3.01 kWh" or a number) rows."""
    return pd.DataFrame({"meter": meter, "ts_utc": pd.to_datetime([t for t, _ in pairs], utc=True),
                         "register_kwh": [parse_quantity(v) for _, v in pairs]})


def day_of_reads(values: list[float], start: str = "2026-02-16 22:00", minutes: int = 15) -> list[tuple[str, str]]:
    times = pd.date_range(start, periods=len(values), freq=f"{minutes}min", tz="UTC")
    return [(str(t), f"{v:.2f} kWh") for t, v in zip(times, values, strict=True)]


def test_a_day_from_3_01_to_3_45_kwh_gives_0_44_kwh_and_no_negative_energy():
    """EnergyActive over a Maseru day (00:00 SAST = 22:00 UTC), 15-minute reads, rising by register steps."""
    values = [3.01 + round(0.44 * i / 96, 2) for i in range(97)]
    assert values[0] == 3.01 and values[-1] == pytest.approx(3.45)
    intervals, events = register_intervals(reads(day_of_reads(values)))
    assert len(intervals) == 96 and events.empty
    assert intervals["kwh"].sum() == pytest.approx(0.44) and (intervals["kwh"] >= 0).all()
    assert set(intervals["quality"]) == {"actual"}  # every pair is exactly one slot
    assert intervals["ts_utc"].iloc[0] == pd.Timestamp("2026-02-16 22:00", tz="UTC")


def test_a_reboot_style_drop_is_a_reset_with_no_energy_and_the_rest_still_counts():
    """EnergyIntegrated falls to 0 when the ESP32 reboots: the drop is a gap, never negative energy."""
    series = [1.20, 1.25, 1.31, 0.00, 0.04, 0.10]
    intervals, events = register_intervals(reads(day_of_reads(series)))
    assert (intervals["kwh"] >= 0).all()
    assert intervals["kwh"].sum() == pytest.approx(0.05 + 0.06 + 0.04 + 0.06)
    (reset,) = events.itertuples()
    assert reset.kind == "reset" and "1.31 -> 0.00" in reset.detail
    assert pd.Timestamp(reset.start_utc) not in set(intervals["ts_utc"])  # the slot of the drop is a gap


def test_an_implausible_jump_is_rejected_with_its_reason():
    intervals, events = register_intervals(reads(day_of_reads([100.0, 100.5, 180.5, 181.0])))
    assert list(events["kind"]) == ["implausible_jump"] and "80.00 kWh" in events["detail"].iloc[0]
    assert intervals["kwh"].sum() == pytest.approx(1.0)


def test_a_long_pair_is_spread_by_time_and_marked_estimated():
    """Reads 10:05 and 10:50: 45 minutes over the slots 10:00 (10 min), 10:15, 10:30 (15 each), 10:45 (5 min)."""
    intervals, _ = register_intervals(reads([("2026-02-17 10:05Z", 5.00), ("2026-02-17 10:50Z", 5.90)]))
    assert list(intervals["kwh"]) == pytest.approx([0.2, 0.3, 0.3, 0.1])
    assert set(intervals["quality"]) == {"estimated"}
    assert intervals["kwh"].sum() == pytest.approx(0.9)


def test_five_minute_reads_add_up_in_their_slot_and_float_noise_is_no_energy():
    pairs = [("2026-02-17 10:00Z", 7.0), ("2026-02-17 10:05Z", 7.0100000004), ("2026-02-17 10:10Z", 7.01),
             ("2026-02-17 10:15Z", 7.03), ("2026-02-17 10:15Z", 7.03)]  # a repeated read changes nothing
    intervals, events = register_intervals(reads(pairs))
    assert events.empty
    assert list(intervals["kwh"]) == pytest.approx([0.03]) and list(intervals["quality"]) == ["actual"]


def test_meters_are_kept_apart_and_hourly_slots_work():
    both = pd.concat([reads([("2026-02-17 10:00Z", 1.0), ("2026-02-17 11:00Z", 1.5)], meter="a"),
                      reads([("2026-02-17 10:00Z", 9.0), ("2026-02-17 11:00Z", 9.2)], meter="b")])
    intervals, _ = register_intervals(both, RegisterRules(slot_minutes=60))
    assert intervals[["meter", "kwh", "interval_minutes"]].values.tolist() == [["a", 0.5, 60], ["b", 0.2, 60]]


@pytest.mark.parametrize(("text", "kwh"), [("3.01 kWh", 3.01), ("3.01kWh", 3.01), (" 850 Wh ", 0.85), ("12", 12.0),
                                           (2.5, 2.5)])
def test_unit_embedded_values(text, kwh):
    assert parse_quantity(text) == pytest.approx(kwh)


@pytest.mark.parametrize("text", ["230.1 V", "3.01 kWh extra", "kWh", "", "3,01 kWh"])
def test_other_units_and_text_are_refused(text):
    with pytest.raises(QuantityError, match="not a quantity"):
        parse_quantity(text)


def test_volts_parse_when_asked_for():
    assert parse_quantity("230.1 V", {"v": 1.0}) == pytest.approx(230.1)


def test_1pwr_identities():
    assert sparkmeter_short_code("SMRSD-03-0002E040") == 57408  # 0005MAK's primary SparkMeter
    assert onemeter_id("000023022673") == onemeter_id("23022673") == "23022673"
    assert account_number("0005mak") == "0005MAK"
    for bad, parse in (("5MAK", account_number), ("10443720000000001", onemeter_id), ("E040", sparkmeter_short_code)):
        with pytest.raises(IdentityError):
            parse(bad)
