"""Markets: each deployment's service point ids and local clock (Texas by default; 1PWR's Lesotho, Benin
and Zambia by INTELLIWATT_MARKET). Days, partitions, completeness and API times follow the market."""

import datetime as dt

import pandas as pd
import pytest

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.routing import valid_esiid
from intelliwatt_pipelines.api.timeparams import parse_day, parse_instant
from intelliwatt_pipelines.cdm.normalize import day_bounds_utc, expected_intervals, local_dates
from intelliwatt_pipelines.config import Settings, SettingsError
from intelliwatt_pipelines.defs.partitions import day_partitions
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.sources.frames import Problems, check_esiids

DAY = dt.date(2026, 2, 17)


@pytest.fixture
def lesotho(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")
    return markets.active()


def test_texas_is_the_default_and_keeps_its_dst_days(monkeypatch):
    monkeypatch.delenv("INTELLIWATT_MARKET", raising=False)
    texas = markets.active()
    assert (texas.key, texas.timezone) == ("texas", "America/Chicago")
    assert [texas.expected_intervals(d) for d in (dt.date(2026, 3, 8), DAY, dt.date(2026, 11, 1))] == [92, 96, 100]
    assert texas.identity.match("10443720000000001") and not texas.identity.match("0005MAK")


def test_a_lesotho_day_has_96_quarter_hours_between_maseru_midnights(lesotho):
    start, end = day_bounds_utc(DAY)
    assert (start, end) == (pd.Timestamp("2026-02-16 22:00", tz="UTC"), pd.Timestamp("2026-02-17 22:00", tz="UTC"))
    assert lesotho.day_bounds(DAY) == (start.to_pydatetime(), end.to_pydatetime())
    # no daylight saving: every day of the year is 96 quarter-hours (24 hours of Koios data)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    assert {expected_intervals(d, 15) for d in days} == {96}
    assert {expected_intervals(d, 60) for d in days} == {24}
    # 21:45Z is the day's last quarter-hour, 22:00Z the next day's first
    stamps = pd.Series(pd.to_datetime(["2026-02-16T22:00Z", "2026-02-17T21:45Z", "2026-02-17T22:00Z"], utc=True))
    assert list(local_dates(stamps)) == [DAY, DAY, DAY + dt.timedelta(days=1)]


@pytest.mark.parametrize(("key", "zone", "offset"), [("lesotho", "Africa/Maseru", 2), ("benin", "Africa/Porto-Novo", 1),
                                                     ("zambia", "Africa/Lusaka", 2)])
def test_each_1pwr_market_has_its_zone(monkeypatch, key, zone, offset):
    monkeypatch.setenv("INTELLIWATT_MARKET", key)
    start, _ = day_bounds_utc(DAY)
    assert markets.local_tz() == zone and start == pd.Timestamp(DAY, tz="UTC") - pd.Timedelta(hours=offset)


def test_day_partitions_follow_the_market(lesotho):
    partitions = day_partitions("2026-02-01")
    assert partitions.timezone == "Africa/Maseru"
    window = partitions.time_window_for_partition_key("2026-02-17")
    assert window.start.astimezone(dt.timezone.utc) == dt.datetime(2026, 2, 16, 22, tzinfo=dt.timezone.utc)


def test_api_times_without_offset_are_local_to_the_market(lesotho):
    assert parse_instant("2026-02-17", "start") == dt.datetime(2026, 2, 16, 22, tzinfo=dt.timezone.utc)
    assert parse_instant("2026-02-17", "end", end=True) == dt.datetime(2026, 2, 17, 22, tzinfo=dt.timezone.utc)
    assert parse_instant("2026-02-17T10:00", "start") == dt.datetime(2026, 2, 17, 8, tzinfo=dt.timezone.utc)
    assert parse_day("2026-02-16T23:30:00Z", "start") == DAY  # 01:30 in Maseru


def test_service_point_ids_follow_the_market_and_are_not_weakened(lesotho, monkeypatch):
    assert valid_esiid("0005MAK") == "0005MAK"
    for bad in ("10443720000000001", "005MAK", "0005mak", "0005MAKX"):
        with pytest.raises(ApiError, match="NNNNSSS"):
            valid_esiid(bad)
    problems = Problems(2, numbered=False)
    check_esiids(pd.Series(["0005MAK", "10443720000000001"]), problems)
    assert problems.invalid.tolist() == [False, True]
    assert "account number is not NNNNSSS (4 digits and a 3-letter site code" in problems.messages[0]
    monkeypatch.setenv("INTELLIWATT_MARKET", "texas")
    with pytest.raises(ApiError, match="17 or 22 digits"):
        valid_esiid("0005MAK")


def test_account_numbers_are_masked_in_log_text_in_1pwr_markets(lesotho):
    text = redact("file koios_0005MAK_2026-02-17.json for 0005MAK")
    assert "0005MAK" not in text and text.count("esiid#") == 2


def test_the_market_setting_is_validated(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")
    assert Settings.from_env().market == "lesotho"
    monkeypatch.setenv("INTELLIWATT_MARKET", "mars")
    with pytest.raises(SettingsError, match="INTELLIWATT_MARKET"):
        Settings.from_env()
    with pytest.raises(ValueError, match="texas, lesotho, benin, zambia"):
        markets.active()
