"""ThunderCloud customers snapshots (vendor-apis.md §3.1 3, shaped as it describes them) as register reads
(``sources.thundercloud``), and two snapshots through the register transform. Customer codes are 1PWR
accounts: the Lesotho market."""

import json

import pandas as pd
import pytest

from intelliwatt_pipelines.sources.onepwr_ids import sparkmeter_short_code
from intelliwatt_pipelines.sources.registers import register_intervals
from intelliwatt_pipelines.sources.thundercloud import SnapshotError, register_reads


@pytest.fixture(autouse=True)
def lesotho(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")


def snapshot(total: float, at: str) -> bytes:
    return json.dumps({"customers": [
        {"code": "0005MAK", "credit_balance": 12.5, "debt_balance": 0,
         "meters": [{"serial": "SMRSD-03-0002E040", "current_daily_energy": 1.2, "total_cycle_energy": total,
                     "last_energy": 0.05, "last_energy_datetime": at,
                     "latest_reading": {"kilowatt_hours": 0.05, "avg_true_power": 0.2, "avg_voltage": 229.8,
                                        "cost": 0.4, "timestamp": at}}]},
        {"code": "0006MAK", "meters": [{"serial": "SMRSD-03-0002E041", "total_cycle_energy": None}]}]}).encode()


def test_a_snapshot_gives_one_register_read_per_meter_in_utc():
    reads = register_reads(snapshot(1534.27, "2026-02-17T10:00:00")).frame
    assert reads[["esiid", "meter", "register_kwh"]].values.tolist() == [["0005MAK", "SMRSD-03-0002E040", 1534.27]]
    assert reads["ts_utc"].iloc[0] == pd.Timestamp("2026-02-17 10:00", tz="UTC")  # no offset: read as UTC
    assert sparkmeter_short_code(reads["meter"].iloc[0]) == 57408
    offset = register_reads(snapshot(1.0, "2026-02-17T12:00:00+02:00")).frame
    assert offset["ts_utc"].iloc[0] == pd.Timestamp("2026-02-17 10:00", tz="UTC")


def test_two_snapshots_become_the_energy_between_them():
    reads = pd.concat([register_reads(snapshot(1534.27, "2026-02-17T10:00:00")).frame,
                       register_reads(snapshot(1534.42, "2026-02-17T10:15:00")).frame])
    intervals, events = register_intervals(reads)
    assert events.empty and intervals["kwh"].tolist() == pytest.approx([0.15])


NO_CODE = b'{"customers": [{"meters": [{"serial": "x", "total_cycle_energy": 1, "last_energy_datetime": "2026-02-17"}]}]}'


@pytest.mark.parametrize("body", [b"not json", NO_CODE, b'{"x": 1}'])
def test_what_is_not_a_snapshot_is_refused(body):
    with pytest.raises(SnapshotError):
        register_reads(body)
