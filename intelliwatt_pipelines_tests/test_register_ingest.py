"""Register reads through ingest (1PWR): hour-sized files in any order, late reads between stored ones,
resets and re-deliveries. The stored intervals always equal what all the stored reads say, and a day's
billing read equals its intervals, whichever file came last."""

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.meter_roles import meter_accounts
from intelliwatt_pipelines.cdm.tables import billing_read, billing_reconciliation, raw_file, usage_interval
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file

METER = "23022628"
REGISTRY = b"account_number,meter_id,role\n0005MAK,000023022628,primary\n"


@pytest.fixture
def ingest(monkeypatch, engine, store):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")

    def ingest(data: bytes, name: str):
        captured = capture_bytes(engine, store, data, filename=name, source="inbox")
        return normalize_raw_file(engine, store, captured.raw_file_id)

    assert ingest(REGISTRY, "meter_registry.csv").status == "normalized"
    return ingest


def readings(day: str, minutes: range, start_kwh: float, step_kwh: float = 0.01) -> list[dict]:
    """Pushed MeterReadings at these minutes after the day's midnight on the Maseru clock, the register
    rising ``step_kwh`` each."""
    midnight = dt.datetime.strptime(day, "%Y%m%d")
    return [{"meter_id": METER, "timestamp": (midnight + dt.timedelta(minutes=m)).strftime("%Y%m%d%H%M"),
             "energy_active": round(start_kwh + i * step_kwh, 2)} for i, m in enumerate(minutes)]


def stored(engine) -> tuple[list, list]:
    u = usage_interval.c
    with engine.connect() as conn:
        intervals = conn.execute(sa.select(u.ts_utc, u.kwh, u.quality).order_by(u.ts_utc)).all()
        reads = conn.execute(sa.select(billing_read.c.read_start, billing_read.c.kwh_total,
                                       billing_read.c.start_reading, billing_read.c.end_reading)).all()
    return intervals, reads


def real_kwh(intervals) -> float:
    return sum(kwh for _, kwh, quality in intervals if quality != "filled")


def test_hourly_files_in_any_order_give_the_register_difference_and_a_daily_read(engine, ingest):
    day = readings("20260217", range(0, 24 * 60 + 1, 5), 3.00)  # 00:00 .. next 00:00, 289 reads
    hours = [day[i:i + 12] for i in range(0, len(day), 12)]
    random.Random(7).shuffle(hours)
    for n, hour in enumerate(hours):
        assert ingest(json.dumps(hour).encode(), f"iot_{n}.json").status == "normalized"
    intervals, reads = stored(engine)
    assert real_kwh(intervals) == pytest.approx(2.88) and min(k for _, k, _ in intervals) >= 0
    assert len([i for i in intervals if i.quality != "filled"]) == 96
    (read,) = reads
    assert (read.start_reading, read.end_reading, read.kwh_total) == (3.0, 5.88, pytest.approx(2.88))
    # all delivered again (the S3 copy of pushed readings): nothing changes
    before = stored(engine)
    for n, hour in enumerate(hours):
        assert ingest(json.dumps(hour).encode(), f"again_{n}.json").status == "normalized"
    assert stored(engine) == before


def test_a_late_read_between_two_stored_ones_is_counted_whole(engine, ingest):
    """Slot 10:00-10:15 (Maseru) first holds 0.06 kWh, actual; a later read at 10:40 spreads 0.18 kWh over
    10:10-10:40, so the slot becomes 0.06 + 0.03, estimated: it must replace the smaller actual value."""
    first = [{"meter_id": METER, "timestamp": "202602171000", "energy_active": 3.00},
             {"meter_id": METER, "timestamp": "202602171010", "energy_active": 3.06}]
    assert ingest(json.dumps(first).encode(), "a.json").status == "normalized"
    later = [{"meter_id": METER, "timestamp": "202602171040", "energy_active": 3.24}]
    assert ingest(json.dumps(later).encode(), "b.json").status == "normalized"
    intervals, _ = stored(engine)
    assert real_kwh(intervals) == pytest.approx(0.24)
    assert [round(k, 6) for _, k, q in intervals if q != "filled"] == [0.09, 0.09, 0.06]


def test_a_register_reset_is_a_gap_with_its_reason_and_ingest_goes_on(engine, ingest):
    before_reset = readings("20260217", range(600, 660, 15), 5.00)  # 10:00 .. 10:45, 5.00 .. 5.03
    assert ingest(json.dumps(before_reset).encode(), "a.json").status == "normalized"
    after_reset = readings("20260217", range(660, 720, 15), 1.00)  # 11:00 .. 11:45: the register fell
    outcome = ingest(json.dumps(after_reset).encode(), "b.json")
    assert outcome.status == "normalized"
    with engine.connect() as conn:
        error = conn.execute(sa.select(raw_file.c.error).where(raw_file.c.id == outcome.raw_file_id)).scalar()
    assert "reset" in error and "5.03 -> 1.00" in error and "0005MAK" not in error
    more = readings("20260217", range(720, 780, 15), 1.04)  # an ordinary file after the reset
    assert ingest(json.dumps(more).encode(), "c.json").status == "normalized"
    intervals, _ = stored(engine)
    # 0.03 before the reset, 0.03 + 0.01 + 0.03 after it; the reset's own quarter-hour holds no energy
    assert real_kwh(intervals) == pytest.approx(0.10) and min(k for _, k, _ in intervals) >= 0
    assert [q for _, _, q in intervals].count("filled") == 1


def test_two_reads_in_one_minute_keep_the_higher_and_the_file_lands(engine, ingest):
    same_minute = [{"meter_id": METER, "timestamp": "202602171000", "energy_active": 3.00},
                   {"meter_id": METER, "timestamp": "202602171015", "energy_active": 3.05},
                   {"meter_id": METER, "timestamp": "202602171015", "energy_active": 3.06},
                   {"meter_id": METER, "timestamp": "202602171030", "energy_active": 3.10}]
    assert ingest(json.dumps(same_minute).encode(), "a.json").status == "normalized"
    intervals, _ = stored(engine)
    assert [round(k, 6) for _, k, q in intervals] == [0.06, 0.04]


def test_a_meter_listed_under_another_account_moves_there(engine, ingest):
    assert ingest(b"account_number,meter_id,role\n0009MAK,000023022628,primary\n", "registry_2.csv").status == \
        "normalized"
    with engine.connect() as conn:
        assert meter_accounts(conn) == {METER: ("0009MAK", METER)}
    reading = [{"meter_id": METER, "timestamp": "202602171000", "energy_active": 3.00},
               {"meter_id": METER, "timestamp": "202602171015", "energy_active": 3.01}]
    assert ingest(json.dumps(reading).encode(), "a.json").status == "normalized"
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(usage_interval.c.esiid).distinct()).scalars()) == {"0009MAK"}


def test_a_daily_read_that_a_late_reset_breaks_is_withdrawn(engine, ingest):
    """00:00, 12:00 and the next 00:00 give the day's read (2.00 kWh); a late read at 18:00 below the
    12:00 one shows a reset inside the day, whose register arithmetic then no longer holds: the read and
    its reconciliation go: what is stored is again what all the reads say."""
    whole_day = [{"meter_id": METER, "timestamp": ts, "energy_active": kwh}
                 for ts, kwh in (("202602170000", 3.00), ("202602171200", 4.00), ("202602180000", 5.00))]
    assert ingest(json.dumps(whole_day).encode(), "a.json").status == "normalized"
    _, reads = stored(engine)
    assert [r.kwh_total for r in reads] == [pytest.approx(2.00)]
    late = [{"meter_id": METER, "timestamp": "202602171800", "energy_active": 0.50}]
    outcome = ingest(json.dumps(late).encode(), "b.json")
    assert outcome.status == "normalized"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(billing_reconciliation)).scalar() == 0
    assert stored(engine)[1] == []
