"""Green Button (ESPI) feeds: every reading exactly as the feed says, no summaries as intervals,
hostile XML refused, hourly completeness across DST, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, usage_interval
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.sources import ParseError
from intelliwatt_pipelines.sources.detect import detect_kind
from intelliwatt_pipelines.sources.green_button import Binding, parse

SAMPLES = Path(__file__).resolve().parent / "data" / "green_button"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "samples" / "green_button"
COASTAL = "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5"
NINE_DAYS = "TestGBDataHourlyNineDaysBinnedDaily.xml"
ABRIDGED = "electric_containerized.xml"
ESIID = "10443720009990077"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def expected_readings() -> list[tuple[pd.Timestamp, int, int]]:
    """(UTC start, minutes, Wh) for every line of the sample's expected.txt."""
    out = []
    for line in (SAMPLES / f"{COASTAL}.expected.txt").read_text().splitlines():
        if m := re.match(r"\s+(\S+ \S+), (\d+):(\d\d):(\d\d): (\d+) Wh", line):
            out.append((pd.Timestamp(m.group(1)), int(m.group(2)) * 60 + int(m.group(3)), int(m.group(5))))
    return out


def ingest(engine, store, data: bytes, name: str, esiid: str | None = ESIID):
    from intelliwatt_pipelines.cdm.tables import upload

    captured = capture_bytes(engine, store, data, filename=name, source="test")
    if esiid:  # as the upload relay records the ESIID given with a file
        with engine.begin() as conn:
            conn.execute(upload.insert().values(
                raw_file_id=captured.raw_file_id, role="admin", account_hash="test", esiid=esiid, meter=None,
                filename=name, size_bytes=len(data), via="multipart", binds_hints=True,
                received_at=dt.datetime.now(dt.timezone.utc)))
    return normalize_raw_file(engine, store, captured.raw_file_id)


def test_samples_are_the_shared_ones():
    if SHARED.is_dir():
        for path in SAMPLES.iterdir():
            assert path.read_bytes() == (SHARED / path.name).read_bytes()


def test_every_reading_of_the_year_matches_the_expected_list(engine, store):
    outcome = ingest(engine, store, sample(f"{COASTAL}.xml"), f"{COASTAL}.xml")
    assert outcome.status == "normalized" and outcome.kind == "green_button"
    u = usage_interval.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(u.ts_utc, u.interval_minutes, u.kwh, u.source, u.channel, u.quality)
                            .where(u.esiid == ESIID, u.quality != "filled").order_by(u.ts_utc)).all()
    want = expected_readings()
    assert len(want) == 8760
    got = [(pd.Timestamp(r.ts_utc), r.interval_minutes, round(r.kwh * 1000)) for r in rows]
    assert got == want
    assert {(r.source, r.channel, r.quality) for r in rows} == {("green_button", "consumption", "actual")}


def test_abridged_and_nine_day_feeds_ingest_without_their_summaries(engine, store):
    assert ingest(engine, store, sample(ABRIDGED), ABRIDGED).status == "normalized"
    outcome = ingest(engine, store, sample(NINE_DAYS), NINE_DAYS, esiid="10443720009990078")
    assert outcome.status == "normalized" and outcome.rows_valid == 216  # nine days of hourly readings
    u = usage_interval.c
    with engine.connect() as conn:
        lengths = conn.execute(sa.select(u.interval_minutes).distinct().where(u.esiid == "10443720009990078")).all()
        count = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)
                             .where(u.esiid == "10443720009990078")).scalar_one()
    assert lengths == [(60,)] and count == 216  # no daily or monthly value became an interval


def test_readings_coarser_than_an_hour_are_skipped_not_split():
    day_bin = sample(NINE_DAYS).replace(b"<duration>3600</duration>\n            <start>1388552400</start>",
                                        b"<duration>86400</duration>\n            <start>1388552400</start>", 1)
    parsed = parse(day_bin, Binding(esiid=ESIID))
    assert parsed.rows_skipped == 1 and len(parsed.frame) == 215 and set(parsed.frame["interval_minutes"]) == {60}


def test_hourly_completeness_counts_23_and_25_readings_on_dst_days(engine, store):
    ingest(engine, store, sample(f"{COASTAL}.xml"), f"{COASTAL}.xml")
    c = daily_completeness.c
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(c.local_date, c.expected_intervals).where(
            c.esiid == ESIID, c.local_date.in_([dt.date(2011, 3, 13), dt.date(2011, 11, 6), dt.date(2011, 6, 1)]))).all())
    assert rows == {dt.date(2011, 3, 13): 23, dt.date(2011, 11, 6): 25, dt.date(2011, 6, 1): 24}


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"><title>&lol3;</title></feed>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/secret">]>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"><title>&xxe;</title></feed>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_hostile_xml_is_refused_before_anything_is_expanded_or_fetched(engine, store, data, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the parser tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ParseError, match="refused unsafe XML"):
        parse(data, Binding(esiid=ESIID))
    outcome = ingest(engine, store, data, "hostile.xml")
    assert outcome.status == "failed" and "refused unsafe XML" in outcome.error
    with engine.connect() as conn:
        row = conn.execute(sa.select(raw_file).where(raw_file.c.id == outcome.raw_file_id)).one()
    assert store.get(row.sha256) == data  # raw kept


def test_a_feed_with_no_esiid_fails_with_how_to_give_one(engine, store):
    outcome = ingest(engine, store, sample(ABRIDGED), ABRIDGED, esiid=None)
    assert outcome.status == "failed" and "meta.json" in outcome.error


def test_several_usage_points_stay_apart():
    data = sample(ABRIDGED)
    second = data.replace(b"UsagePoint/1", b"UsagePoint/2").split(b"<entry>", 1)[1].rsplit(b"</feed>", 1)[0]
    both = data.replace(b"</feed>", b"<entry>" + second + b"</feed>")
    parsed = parse(both, Binding(esiid=ESIID))
    assert sorted(parsed.frame["meter"].unique()) == ["gb-up1", "gb-up2"]
    assert len(parsed.frame) == 2 * len(parse(data, Binding(esiid=ESIID)).frame)


def test_kind_by_content():
    assert detect_kind(sample(ABRIDGED)[:4096], "anything.dat") == "green_button"
    with pytest.raises(ParseError, match="not well-formed"):
        parse(sample(ABRIDGED)[:3000], Binding(esiid=ESIID))


@pytest.fixture(autouse=True, scope="module")
def _copy_samples():
    """The Green Button samples live in the project's test data (copied from shared/samples)."""
    SAMPLES.mkdir(exist_ok=True)
    if SHARED.is_dir():
        for path in SHARED.iterdir():
            if not (SAMPLES / path.name).exists():
                shutil.copyfile(path, SAMPLES / path.name)
