"""Green Button (ESPI) feeds: every reading exactly as the feed says, no summaries as intervals,
hostile XML refused, hourly completeness across DST, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, usage_interval
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.kinds import detect_kind
from intelliwatt_pipelines.sources import ParseError
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
    """The test data are copies of shared/samples/green_button (checked when shared/ is beside us)."""
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
        rows = {r[0]: tuple(r[1:]) for r in conn.execute(sa.select(
            c.local_date, c.expected_intervals, c.actual_intervals, c.interval_minutes, c.status).where(
            c.esiid == ESIID, c.local_date.in_([dt.date(2011, 3, 13), dt.date(2011, 11, 6), dt.date(2011, 6, 1)])))}
    # expected and really stored: the feed is whole, so every reading of those days is there
    assert rows == {dt.date(2011, 3, 13): (23, 23, 60, "complete"), dt.date(2011, 11, 6): (25, 25, 60, "complete"),
                    dt.date(2011, 6, 1): (24, 24, 60, "complete")}


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
    meters = sorted(parsed.frame["meter"].unique())
    assert len(meters) == 2 and all(m.startswith("gb-up") for m in meters)
    assert len(parsed.frame) == 2 * len(parse(data, Binding(esiid=ESIID)).frame)


def test_usage_points_of_different_customers_with_the_same_id_stay_apart():
    start = int(pd.Timestamp("2025-11-01 06:00", tz="UTC").timestamp())
    one, two = gb_feed([(start, 3600, 1000)], customer=3), gb_feed([(start, 3600, 2000)], customer=4)
    entries = two.split(b"<entry>", 1)[1].rsplit(b"</feed>", 1)[0].replace(b"ReadingType/07", b"ReadingType/08")
    both = one.replace(b"</feed>", b"<entry>" + entries + b"</feed>")
    frame = parse(both, Binding(esiid=ESIID)).frame
    by_meter = dict(zip(frame["kwh"], frame["meter"], strict=True))
    assert len(frame) == 2 and by_meter[1.0] != by_meter[2.0]
    # a point keeps its meter name in every file that holds it with another point
    three = gb_feed([(start, 3600, 3000)], customer=5).split(b"<entry>", 1)[1].rsplit(b"</feed>", 1)[0]
    other = two.replace(b"</feed>", b"<entry>" + three.replace(b"ReadingType/07", b"ReadingType/09") + b"</feed>")
    frame2 = parse(other, Binding(esiid=ESIID)).frame
    assert dict(zip(frame2["kwh"], frame2["meter"], strict=True))[2.0] == by_meter[2.0]


def test_register_readings_are_not_energy_and_any_estimate_code_counts():
    start = int(pd.Timestamp("2025-11-01 06:00", tz="UTC").timestamp())
    with pytest.raises(ParseError, match="accumulationBehaviour 1"):
        parse(gb_feed([(start, 3600, 123456789)], accumulation=1), Binding(esiid=ESIID))
    frame = parse(gb_feed([(start, 3600, 1000)], quality="14,8"), Binding(esiid=ESIID)).frame
    assert list(frame["quality"]) == ["estimated"]


def test_a_usage_point_entry_giving_only_a_meter_keeps_the_feed_esiid():
    start = int(pd.Timestamp("2025-11-01 06:00", tz="UTC").timestamp())
    frame = parse(gb_feed([(start, 3600, 1000)]), Binding(esiid=ESIID, usage_points={"1": (None, "M9")})).frame
    assert list(zip(frame["esiid"], frame["meter"], strict=True)) == [(ESIID, "M9")]


def test_kind_by_content():
    assert detect_kind(sample(ABRIDGED)[:4096].replace(b"<feed ", b"<atom:feed xmlns:atom='x' ", 1), "x") == "green_button"
    assert detect_kind(sample(ABRIDGED)[:4096], "anything.dat") == "green_button"
    with pytest.raises(ParseError, match="not well-formed"):
        parse(sample(ABRIDGED)[:3000], Binding(esiid=ESIID))


# --- precedence between SMT and Green Button -------------------------------------------------------

SMT_SAMPLE = Path(__file__).resolve().parent / "data" / "IntervalMeterUsage_sample_fallback_unpadded.csv"
SMT_ESIID = "10443720009990001"
HOURS_11_03_LAST_3 = [int(pd.Timestamp(f"2025-11-04 0{h}:00", tz="UTC").timestamp()) for h in (3, 4, 5)]


def gb_feed(readings: list[tuple[int, int, int]], quality: str = "", customer: int = 9,
            accumulation: int = 4) -> bytes:
    """A minimal ESPI feed: one UsagePoint, one MeterReading, Wh readings (start epoch, seconds, Wh)."""
    base = f"https://example.invalid/espi/1_1/resource/RetailCustomer/{customer}/UsagePoint/1"
    q = "".join(f"<ReadingQuality><quality>{code}</quality></ReadingQuality>" for code in quality.split(",") if code)
    body = "".join(f"<IntervalReading>{q}<timePeriod><duration>{d}</duration><start>{s}</start></timePeriod>"
                   f"<value>{v}</value></IntervalReading>" for s, d, v in readings)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
<entry><link rel="self" href="{base}"/><content><UsagePoint xmlns="http://naesb.org/espi"/></content></entry>
<entry><link rel="self" href="{base}/MeterReading/01"/><link rel="up" href="{base}/MeterReading"/>
 <link rel="related" href="https://example.invalid/espi/1_1/resource/ReadingType/07"/>
 <content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
<entry><link rel="self" href="https://example.invalid/espi/1_1/resource/ReadingType/07"/>
 <content><ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>{accumulation}</accumulationBehaviour>
 <flowDirection>1</flowDirection>
 <intervalLength>{readings[0][1]}</intervalLength><powerOfTenMultiplier>0</powerOfTenMultiplier><uom>72</uom>
 </ReadingType></content></entry>
<entry><link rel="self" href="{base}/MeterReading/01/IntervalBlock/1"/>
 <link rel="up" href="{base}/MeterReading/01/IntervalBlock"/>
 <content><IntervalBlock xmlns="http://naesb.org/espi">{body}</IntervalBlock></content></entry>
</feed>""".encode()


def stored_rows(engine) -> dict[pd.Timestamp, tuple]:
    u = usage_interval.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(u.ts_utc, u.interval_minutes, u.kwh, u.quality, u.source)
                            .where(u.esiid == SMT_ESIID, u.quality != "filled")).all()
    return {pd.Timestamp(r.ts_utc): (r.interval_minutes, round(r.kwh, 6), r.quality, r.source) for r in rows}


def quarter_feed() -> bytes:
    """Green Button 15-minute readings over the whole SMT sample, each 1 kWh above SMT's value."""
    smt = pd.read_csv(SMT_SAMPLE)
    start = int(pd.Timestamp("2025-11-01 05:00", tz="UTC").timestamp())
    return gb_feed([(start + 900 * i, 900, int(round((k + 1) * 1000))) for i, k in enumerate(smt["USAGE_KWH"])])


@pytest.mark.parametrize("order", ["smt_first", "green_button_first"])
def test_smt_actual_beats_green_button_which_beats_estimated(engine, store, order):
    files = [(SMT_SAMPLE.read_bytes(), SMT_SAMPLE.name), (quarter_feed(), "greenbutton.xml")]
    for data, name in files if order == "smt_first" else files[::-1]:
        assert ingest(engine, store, data, name, esiid=SMT_ESIID).status == "normalized"
    rows = stored_rows(engine)
    assert len(rows) == 292  # one value per slot, never two
    by_source = pd.Series([v[3] for v in rows.values()]).value_counts().to_dict()
    assert by_source == {"smt": 280, "green_button": 12}  # the 12 estimated SMT slots of 11/03
    last = pd.Timestamp("2025-11-04 05:45", tz="UTC")
    assert rows[last][2:] == ("actual", "green_button")
    # the losing values stay traceable: the Green Button raw file still lists the days it covers
    from intelliwatt_pipelines.cdm.tables import raw_file_coverage

    with engine.connect() as conn:
        files = conn.execute(sa.select(raw_file.c.kind).join(
            raw_file_coverage, raw_file_coverage.c.raw_file_id == raw_file.c.id)).scalars().all()
    assert sorted(files) == ["green_button", "smt_interval"]


def smt_without_hours(hours: tuple[str, ...]) -> bytes:
    """The SMT sample without the given 11/03 hours (CST): a delivery that stops early."""
    lines = SMT_SAMPLE.read_text().splitlines(keepends=True)
    return "".join(line for line in lines
                   if not (line.split(",")[1:2] == ["11/3/2025"] and line.split(",")[3].split(":")[0] in hours)).encode()


def no_overlap(rows: dict) -> bool:
    spans = sorted((ts, ts + pd.Timedelta(minutes=v[0])) for ts, v in rows.items())
    return all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_hourly_green_button_never_double_counts_15_minute_smt(engine, store):
    ingest(engine, store, smt_without_hours(("21", "22", "23")), SMT_SAMPLE.name, esiid=SMT_ESIID)
    before = stored_rows(engine)
    # hourly readings over the whole of 11/03 (CST); SMT has quarter-hours up to 21:00
    start = int(pd.Timestamp("2025-11-03 06:00", tz="UTC").timestamp())
    outcome = ingest(engine, store, gb_feed([(start + 3600 * h, 3600, 5000) for h in range(24)]), "hourly.xml",
                     esiid=SMT_ESIID)
    assert outcome.status == "normalized"
    rows = stored_rows(engine)
    hourly = {int(ts.timestamp()) for ts, v in rows.items() if v[0] == 60}
    assert hourly == set(HOURS_11_03_LAST_3)  # only where no finer reading exists
    assert len(rows) == len(before) + 3 and no_overlap(rows)


def test_mixed_lengths_end_the_same_whatever_arrives_first(engine, store):
    import itertools

    hour = int(pd.Timestamp("2025-11-04 02:00", tz="UTC").timestamp())  # 11/03 20:00 CST
    start = int(pd.Timestamp("2025-11-03 06:00", tz="UTC").timestamp())
    files = {
        "smt_partial.csv": smt_without_hours(("20", "21", "22", "23")),  # SMT stops at 20:00
        "hourly.xml": gb_feed([(start + 3600 * h, 3600, 5000) for h in range(24)]),
        "quarters.xml": gb_feed([(hour, 900, 700), (hour + 900, 900, 800)]),  # two quarters of 20:00
    }
    states = set()
    for n, order in enumerate(itertools.permutations(files)):
        with engine.begin() as conn:
            conn.execute(usage_interval.delete())
        for name in order:  # new bytes each round, so nothing is deduplicated by sha256
            data = files[name] + (f"\n<!-- {n} -->".encode() if name.endswith(".xml") else b"\n" * (n + 1))
            assert ingest(engine, store, data, f"{n}-{name}", esiid=SMT_ESIID).status == "normalized"
        rows = stored_rows(engine)
        assert no_overlap(rows)
        states.add(tuple(sorted(rows.items())))
    assert len(states) == 1  # all six orders end the same
    rows = dict(states.pop())
    hourly = {int(ts.timestamp()) for ts, v in rows.items() if v[0] == 60}
    # 20:00 keeps its two real quarter-hours (finer real data wins); 21:00-23:00 are Green Button hours
    assert hourly == set(HOURS_11_03_LAST_3)
    assert [rows[pd.Timestamp(hour + 900 * q, unit="s", tz="UTC")][1] for q in range(2)] == [0.7, 0.8]


def test_one_feed_mixing_lengths_keeps_one_value_per_moment():
    start = int(pd.Timestamp("2025-11-01 06:00", tz="UTC").timestamp())
    quarters = [(start + 900 * q, 900, 500) for q in range(4)]
    parsed = parse(gb_feed([(start, 3600, 2000)] + quarters), Binding(esiid=ESIID))
    # the hour and its first quarter share a start: the finer one is kept, the clash reported
    assert list(parsed.frame["interval_minutes"]) == [15, 15, 15, 15] and parsed.rows_skipped == 1
    assert "share a start" in parsed.problems[0]


def test_one_feed_mixing_lengths_is_stored_without_overlap(engine, store):
    start = int(pd.Timestamp("2025-11-01 06:00", tz="UTC").timestamp())
    quarters = [(start + 900 * q, 900, 500) for q in range(4)]
    ingest(engine, store, gb_feed([(start, 3600, 2000), (start + 3600, 3600, 1000)] + quarters), "mixed.xml",
           esiid=SMT_ESIID)
    rows = stored_rows(engine)
    assert sorted((ts.strftime("%H:%M"), v[0]) for ts, v in rows.items()) == [
        ("06:00", 15), ("06:15", 15), ("06:30", 15), ("06:45", 15), ("07:00", 60)]


def test_source_precedence_is_a_setting(engine, store):
    from intelliwatt_pipelines.cdm.precedence import Precedence

    green_first = Precedence.parse("green_button:*,smt:actual,*:estimated")
    captured = capture_bytes(engine, store, SMT_SAMPLE.read_bytes(), filename=SMT_SAMPLE.name, source="test")
    normalize_raw_file(engine, store, captured.raw_file_id, precedence=green_first)
    captured = capture_bytes(engine, store, quarter_feed(), filename="gb.xml", source="test")
    from intelliwatt_pipelines.cdm.tables import upload
    with engine.begin() as conn:
        conn.execute(upload.insert().values(
            raw_file_id=captured.raw_file_id, role="admin", account_hash="test", esiid=SMT_ESIID, filename="gb.xml",
            size_bytes=1, via="multipart", binds_hints=True, received_at=dt.datetime.now(dt.timezone.utc)))
    normalize_raw_file(engine, store, captured.raw_file_id, precedence=green_first)
    assert {v[3] for v in stored_rows(engine).values()} == {"green_button"}
    with pytest.raises(ValueError, match="source:quality"):
        Precedence.parse("smt")


# --- sidecar files --------------------------------------------------------------------------------

def test_a_sidecar_binds_an_inbox_feed_and_a_bad_one_says_why(engine, store, tmp_path):
    from intelliwatt_pipelines.cdm.tables import raw_file_hint
    from intelliwatt_pipelines.ingest.inbox import take_entry
    from intelliwatt_pipelines.transport import LocalInbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / ABRIDGED).write_bytes(sample(ABRIDGED))
    (inbox / f"{ABRIDGED}.meta.json").write_text('{"esiid": "10443720009990079", "meter": "M42"}')
    (inbox / "other.xml").write_bytes(sample(ABRIDGED).replace(b"Coastal", b"Inland"))
    (inbox / "other.xml.meta.json").write_text('{"esiid": "12"}')
    transport = LocalInbox(inbox)
    entries = transport.list_entries()
    assert sorted(e.name for e in entries) == [ABRIDGED, "other.xml"]  # sidecars are not files to take
    outcomes = {e.name: take_entry(engine, store, transport, e)[0] for e in entries}
    assert outcomes[ABRIDGED].status == "normalized"
    assert outcomes["other.xml"].status == "failed" and "sidecar not usable" in outcomes["other.xml"].error
    u = usage_interval.c
    with engine.connect() as conn:
        series = conn.execute(sa.select(u.esiid, u.meter, u.source).distinct()).all()
        hints = conn.execute(sa.select(raw_file_hint.c.origin, raw_file_hint.c.esiid)).all()
    assert series == [("10443720009990079", "M42", "green_button")]
    assert sorted(hints) == [(f"{ABRIDGED}.meta.json", "10443720009990079"), ("other.xml.meta.json", None)]


def test_the_inbox_sensor_takes_a_feed_with_its_sidecar_and_marks_its_partitions(settings, instance):
    from intelliwatt_pipelines.defs.definitions import build_defs
    from intelliwatt_pipelines.defs.keys import DAILY_COMPLETENESS, USAGE_INTERVALS
    from intelliwatt_pipelines_tests.test_dagster import run_ingest, sensor_tick

    (settings.inbox_dir / "GreenButton_download.xml").write_bytes(quarter_feed())
    (settings.inbox_dir / "GreenButton_download.xml.meta.json").write_text('{"esiid": "10443720009990080"}')
    defs = build_defs(settings)
    tick = sensor_tick(defs, instance)
    assert len(tick.run_requests) == 1
    entries = tick.run_requests[0].run_config["ops"]["raw_files"]["config"]["entries"]
    assert [Path(e["path"]).name for e in entries] == ["GreenButton_download.xml"]
    assert run_ingest(defs, instance, tick.run_requests[0]).success
    days = {f"2025-11-0{d}" for d in (1, 2, 3)}
    assert instance.get_materialized_partitions(USAGE_INTERVALS) == days
    assert instance.get_materialized_partitions(DAILY_COMPLETENESS) == days


def test_with_its_flag_off_a_feed_fails_naming_the_flag_and_its_bytes_stay(settings, instance):
    import dataclasses

    from intelliwatt_pipelines.defs.definitions import build_defs
    from intelliwatt_pipelines.rawstore import open_raw_store
    from intelliwatt_pipelines_tests.test_dagster import run_ingest, sensor_tick

    feed = quarter_feed()
    (settings.inbox_dir / "GreenButton_download.xml").write_bytes(feed)
    (settings.inbox_dir / "GreenButton_download.xml.meta.json").write_text('{"esiid": "10443720009990080"}')
    defs = build_defs(dataclasses.replace(settings, flag_green_button=False))
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    engine = sa.create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(raw_file).where(raw_file.c.kind == "green_button")).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar() == 0
    engine.dispose()
    assert (row.status, row.error) == ("failed", "Green Button disabled by INTELLIWATT_FLAG_GREEN_BUTTON")
    assert open_raw_store(settings.raw_store_url).get(row.sha256) == feed


def test_a_day_mixing_hours_and_quarter_hours_is_complete_when_covered(engine, store):
    ingest(engine, store, smt_without_hours(("21", "22", "23")), SMT_SAMPLE.name, esiid=SMT_ESIID)
    start = int(pd.Timestamp("2025-11-03 06:00", tz="UTC").timestamp())
    ingest(engine, store, gb_feed([(start + 3600 * h, 3600, 5000) for h in range(24)]), "hourly.xml", esiid=SMT_ESIID)
    c = daily_completeness.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.expected_intervals, c.actual_intervals, c.status, c.interval_minutes).where(
            c.esiid == SMT_ESIID, c.local_date == dt.date(2025, 11, 3))).one()
    assert tuple(row) == (96, 96, "complete", 15)  # 84 quarter-hours + 3 Green Button hours


def test_a_file_that_failed_for_want_of_a_sidecar_is_bound_once_one_is_added(engine, store, tmp_path):
    import os

    from intelliwatt_pipelines.ingest.inbox import take_entry
    from intelliwatt_pipelines.transport import LocalInbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    feed = inbox / "late.xml"
    feed.write_bytes(quarter_feed())
    transport = LocalInbox(inbox)
    (first,) = transport.list_entries()
    assert take_entry(engine, store, transport, first)[0].status == "failed"
    (inbox / "late.xml.meta.json").write_text('{"esiid": "10443720009990081"}')
    os.utime(feed, ns=(first.mtime_ns + 10**9, first.mtime_ns + 10**9))  # touched: offered again
    (again,) = transport.list_entries()
    assert take_entry(engine, store, transport, again)[0].status == "normalized"
    u = usage_interval.c
    with engine.connect() as conn:
        assert conn.execute(sa.select(u.esiid).distinct()).scalars().all() == ["10443720009990081"]
    # the same bytes and sidecar again change nothing
    os.utime(feed, ns=(first.mtime_ns + 2 * 10**9, first.mtime_ns + 2 * 10**9))
    (third,) = transport.list_entries()
    assert take_entry(engine, store, transport, third)[0].status == "known"
