"""Push ingestion of 1PWR's IoT meters (vendor-apis.md §3.1 item 1, §3.2 "Push ingestion"):
``POST /api/v1/readings`` spools readings per meter-hour, sealing turns closed hours into raw files,
and ``iot_spool_sensor`` launches one ingest run for them. Through the real app, warehouse, raw
store and Dagster instance."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
from intelliwatt_pipelines.defs.iot_spool import IOT_SPOOL_SENSOR
from intelliwatt_pipelines.ingest.iot_spool import SOURCE, capture_closed_hours, hour_end, seal_closed_hours
from intelliwatt_pipelines.kinds import detect_kind

IOT_KEY = "iot-test-shared-secret"
IOT = {"X-IoT-Key": IOT_KEY}
# 23022628 is 0005MAK's meter (vendor-apis.md §3.1); the S3 copies pad ids to 12 digits.
METERS = ("23022628", "000023022696")
HOURS = ("2025110310", "2025110311")  # meter-local (SAST) hours, long closed


def reading(meter: str, stamp: str, kwh: float, **fields) -> dict:
    """A MeterReading as the ingestion Lambda posts it (acdb-api ingest.py's payload)."""
    return {"meter_id": meter, "thing_name": f"1meter_{meter[-8:]}", "timestamp": stamp, "energy_active": kwh,
            "energy_integrated": round(kwh - 0.0004, 4), "power_active": 412.7, "voltage": 230.1,
            "current": 1.83, "relay": "1", "frequency": 50.02, "firmware_version": "v1.3.2", **fields}


def two_by_two(count: int = 200) -> list[dict]:
    """``count`` readings, alternating meters, the first half in the first hour, one minute apart per meter."""
    half = count // 2
    return [reading(METERS[i % 2], f"{HOURS[i // half]}{(i % half) // 2:02d}", round(3.01 + i * 0.0021, 4))
            for i in range(count)]


@pytest.fixture
def iot_settings(settings, monkeypatch):
    # The fixture's settings keep the developer's INTELLIWATT_HOME defaults: the spool must be the test's.
    # A 1PWR deployment: meter-local hours are Maseru's, and the spool sensor exists in 1PWR markets only.
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")
    return dataclasses.replace(settings, market="lesotho", iot_key=IOT_KEY, iot_spool=settings.home / "iot_spool")


@pytest.fixture
def client(iot_settings, engine):
    with TestClient(create_app(iot_settings)) as test_client:
        yield test_client


def spooled(settings) -> dict[tuple[str, str], list[dict]]:
    root = settings.iot_spool
    return {(path.parent.name, path.stem): [json.loads(line) for line in path.read_bytes().splitlines()]
            for path in sorted(root.glob("*/*.jsonl"))}


def error_of(response) -> tuple[int, str]:
    body = response.json()
    assert body["corrId"] and body["error"]["message"]
    return response.status_code, body["error"]["code"]


def test_a_missing_or_wrong_key_is_401_and_no_key_configured_is_404(client, iot_settings, engine):
    one = reading(METERS[0], "202511031000", 3.01)
    assert error_of(client.post("/api/v1/readings", json=one)) == (401, "unauthorized")
    assert error_of(client.post("/api/v1/readings", json=one, headers={"X-IoT-Key": IOT_KEY + "x"})) == \
        (401, "unauthorized")
    assert error_of(client.post("/api/v1/readings", json=one, headers={"X-IoT-Key": ""})) == (401, "unauthorized")
    assert not iot_settings.iot_spool.exists()
    with TestClient(create_app(dataclasses.replace(iot_settings, iot_key=""))) as off:
        response = off.post("/api/v1/readings", json=one, headers=IOT)
        assert error_of(response) == (404, "not_found") and "INTELLIWATT_IOT_KEY" in response.json()["error"]["message"]
    assert not iot_settings.iot_spool.exists()


@pytest.mark.parametrize("body, field", [
    ([reading(METERS[0], "202511031000", 3.01), reading(METERS[0], "202511031001", 3.02, energy_active="3.02 kWh")], "energy_active"),
    (reading("../etc", "202511031000", 3.01), "meter_id"),
    (reading("..", "202511031000", 3.01), "meter_id"),
    (reading(METERS[0], "202502301200", 3.01), "timestamp"),  # no 30 February
    (reading(METERS[0], "2025-11-03T10:00", 3.01), "timestamp"),
    (reading(METERS[0], "209911031000", 3.01), "timestamp"),  # years ahead: would never be sealed
    ({k: v for k, v in reading(METERS[0], "202511031000", 3.01).items() if k != "voltage"}, "voltage"),
    ([], "body"),
    ("not a reading", "request"),
])
def test_a_bad_reading_rejects_the_whole_request_and_spools_nothing(client, iot_settings, body, field):
    response = client.post("/api/v1/readings", json=body, headers=IOT)
    assert error_of(response) == (422, "invalid_parameter")
    assert field in response.json()["error"]["message"]
    assert not spooled(iot_settings)


def test_not_json_is_422(client, iot_settings):
    response = client.post("/api/v1/readings", content=b"{meter_id: 1", headers={**IOT, "content-type": "application/json"})
    assert error_of(response) == (422, "invalid_parameter") and not spooled(iot_settings)


def test_200_readings_over_2_meters_and_2_hours_make_4_spool_files_in_posted_order(client, iot_settings):
    readings = two_by_two()
    for one in readings[:20]:  # one at a time, as the Lambda posts
        response = client.post("/api/v1/readings", json=one, headers=IOT)
        assert response.status_code == 202 and response.json()["accepted"] == 1
    for start in range(20, 200, 45):  # and arrays
        batch = readings[start:start + 45]
        body = client.post("/api/v1/readings", json=batch, headers=IOT).json()
        assert body["accepted"] == len(batch) and body["meters"] == 2 and body["files"] in (2, 4)
    files = spooled(iot_settings)
    assert set(files) == {(meter, hour) for meter in METERS for hour in HOURS}
    for (meter, hour), lines in files.items():
        assert lines == [r for r in readings if r["meter_id"] == meter and r["timestamp"].startswith(hour)]
        assert len(lines) == 50


def test_an_extra_field_is_kept_as_posted(client, iot_settings):
    one = reading(METERS[0], "202511031005", 3.0, rssi=-71)
    assert client.post("/api/v1/readings", json=one, headers=IOT).status_code == 202
    assert spooled(iot_settings) == {(METERS[0], "2025110310"): [one]}


def test_concurrent_posts_lose_no_line(client, iot_settings):
    threads, posts = 8, 25
    errors = []

    def post(t: int) -> None:
        for n in range(posts):  # every thread into the same file, half of them also into a second
            batch = [reading(METERS[0], "202511031030", t * 1000 + n)]
            if t % 2:
                batch.append(reading(METERS[1], "202511031030", t * 1000 + n))
            response = client.post("/api/v1/readings", json=batch, headers=IOT)
            if response.status_code != 202:
                errors.append(response.status_code)

    workers = [threading.Thread(target=post, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    files = spooled(iot_settings)
    first = [line["energy_active"] for line in files[(METERS[0], "2025110310")]]
    assert sorted(first) == sorted(t * 1000 + n for t in range(threads) for n in range(posts))
    for t in range(threads):  # each thread's posts in its own order
        assert [v for v in first if v // 1000 == t] == [t * 1000 + n for n in range(posts)]
    assert len(files[(METERS[1], "2025110310")]) == threads // 2 * posts


def test_sealing_after_the_hour_closes_captures_every_reading_once(client, iot_settings, engine, store):
    readings = two_by_two()
    assert client.post("/api/v1/readings", json=readings, headers=IOT).status_code == 202
    spool = iot_settings.iot_spool
    # Five minutes after the second hour: only the first is past the 10-minute grace.
    early = hour_end(HOURS[1]) + dt.timedelta(minutes=5)
    assert [name for name, _ in seal_closed_hours(spool, early)] == [
        f"iot_{meter}_{HOURS[0]}.json" for meter in sorted(METERS)]
    assert len(spooled(iot_settings)) == 4  # the pure sealing reads only

    late = hour_end(HOURS[1]) + dt.timedelta(minutes=11)
    sealed = dict(seal_closed_hours(spool, late))
    captured = capture_closed_hours(engine, store, spool, late)
    assert len(captured) == 4 and all(c.new and c.status == "received" for c in captured)
    assert not spooled(iot_settings)  # removed once captured
    with engine.connect() as conn:
        rows = conn.execute(sa.select(raw_file).where(raw_file.c.source == SOURCE).order_by(raw_file.c.id)).all()
    assert sorted(r.filename for r in rows) == sorted(sealed)
    together = []
    for row in rows:
        data = store.get(row.sha256)
        assert data == sealed[row.filename]
        assert detect_kind(data, row.filename) == "onepwr_iot_json" == row.kind  # the parser's kind
        objects = json.loads(data)
        meter, hour = row.filename[len("iot_"):-len(".json")].rsplit("_", 1)
        assert objects == [r for r in readings if r["meter_id"] == meter and r["timestamp"].startswith(hour)]
        together += objects
    assert sorted(together, key=readings.index) == readings  # every reading, exactly once

    assert capture_closed_hours(engine, store, spool, late) == []  # sealing twice captures nothing new
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_file)).scalar() == 4


def test_a_crash_between_capture_and_removal_recaptures_nothing(client, iot_settings, engine, store):
    assert client.post("/api/v1/readings", json=two_by_two(20), headers=IOT).status_code == 202
    spool, late = iot_settings.iot_spool, hour_end(HOURS[1]) + dt.timedelta(hours=1)
    kept = {path: path.read_bytes() for path in spool.glob("*/*.jsonl")}
    first = {c.raw_file_id for c in capture_closed_hours(engine, store, spool, late)}
    for path, data in kept.items():  # as if the sealer died after the commit, before the unlink
        path.write_bytes(data)
    again = capture_closed_hours(engine, store, spool, late)
    assert {c.raw_file_id for c in again} == first and not any(c.new for c in again)
    assert not spooled(iot_settings)


def test_late_readings_while_sealing_are_kept_in_a_later_raw_file(client, iot_settings, engine, store):
    """Writers into a closed hour race the sealer: every reading lands in exactly one raw file."""
    spool, now = iot_settings.iot_spool, hour_end(HOURS[0]) + dt.timedelta(days=1)
    done = threading.Event()
    sealed_ids: set[int] = set()

    def seal_until_done() -> None:
        while not done.is_set():
            sealed_ids.update(c.raw_file_id for c in capture_closed_hours(engine, store, spool, now))

    sealer = threading.Thread(target=seal_until_done)
    sealer.start()
    try:
        for n in range(120):
            one = reading(METERS[0], f"{HOURS[0]}{n % 60:02d}", round(3.01 + n * 0.001, 4))
            assert client.post("/api/v1/readings", json=one, headers=IOT).status_code == 202
    finally:
        done.set()
        sealer.join()
    sealed_ids.update(c.raw_file_id for c in capture_closed_hours(engine, store, spool, now))
    with engine.connect() as conn:
        shas = conn.execute(sa.select(raw_file.c.sha256).where(raw_file.c.id.in_(sealed_ids))).scalars().all()
    values = [r["energy_active"] for sha in shas for r in json.loads(store.get(sha))]
    assert sorted(values) == [round(3.01 + n * 0.001, 4) for n in range(120)] and not spooled(iot_settings)


def test_the_sensor_seals_closed_hours_and_requests_one_ingest_run(client, iot_settings, instance, engine):
    readings = two_by_two()
    assert client.post("/api/v1/readings", json=readings, headers=IOT).status_code == 202
    # the meter-local (Maseru) hour now: still being written, it stays in the spool
    open_hour = dt.datetime.now(ZoneInfo("Africa/Maseru")).strftime("%Y%m%d%H")
    assert client.post("/api/v1/readings", json=reading(METERS[0], open_hour + "00", 9.5), headers=IOT).status_code == 202
    defs = build_defs(iot_settings)
    sensor = defs.resolve_sensor_def(IOT_SPOOL_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.job_name == INGEST_JOB

    def tick(cursor=None):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                          definitions=defs)
        return sensor.evaluate_tick(context)

    first = tick()
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    with engine.connect() as conn:
        ids = conn.execute(sa.select(raw_file.c.id).where(raw_file.c.source == SOURCE)
                           .order_by(raw_file.c.id)).scalars().all()
    assert len(ids) == 4 and request.run_config == {"ops": {"raw_files": {"config": {"raw_file_ids": ids}}}}
    assert request.run_key and request.tags["intelliwatt/source"] == SOURCE and request.tags["intelliwatt/files"] == "4"
    assert list(spooled(iot_settings)) == [(METERS[0], open_hour)]
    again = tick(first.cursor)
    assert not again.run_requests and "in runs" in again.skip_message  # claimed while its run is due


def test_the_sensor_is_stopped_without_a_key(iot_settings):
    sensor = build_defs(dataclasses.replace(iot_settings, iot_key="")).resolve_sensor_def(IOT_SPOOL_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
