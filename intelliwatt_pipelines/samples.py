"""Generate realistic SMT interval CSVs: both renderings, DST days exactly as SMT writes them.

Used to seed the local inbox, in tests, and by the benchmarks. Values are synthetic.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from intelliwatt_pipelines.sources.smt_interval import HEADER

CENTRAL = ZoneInfo("America/Chicago")
UTC = dt.timezone.utc
QUARTER = dt.timedelta(minutes=15)


def _clock(t: dt.time | dt.datetime, raw: bool) -> str:
    return f" {t.hour:02d}:{t.minute:02d}" if raw else f"{t.hour}:{t.minute:02d}"


def _date(d: dt.date, raw: bool) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year}" if raw else f"{d.month}/{d.day}/{d.year}"


def _stamp(t: dt.datetime, raw: bool) -> str:
    return f"{_date(t.date(), raw)} {t.hour:02d}:{t.minute:02d}:{t.second:02d}" if raw \
        else f"{_date(t.date(), raw)} {t.hour}:{t.minute:02d}"


def day_slots(day: dt.date) -> list[tuple[str | None, str | None, bool]]:
    """(start clock, end clock, exists) for each row SMT writes for a Central day, in file order.

    Normal and spring-forward days have 96 rows (four of spring-forward's do not exist); the
    fall-back day has 100, its repeated hour's first standard-time row written ``2:00,1:15``.
    """
    midnight = dt.datetime.combine(day, dt.time(), CENTRAL)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CENTRAL)
    span = next_midnight.astimezone(UTC) - midnight.astimezone(UTC)
    rows = []
    if span > dt.timedelta(hours=24):  # fall-back: walk UTC, every instant is real
        t = midnight.astimezone(UTC)
        seen = set()
        while t < next_midnight.astimezone(UTC):
            local = t.astimezone(CENTRAL).replace(tzinfo=None)
            start, end = local.time(), (local + QUARTER).time()  # SMT writes end clocks as start + 15
            second_pass = start in seen
            seen.add(start)
            if second_pass and start.minute == 0:
                start = (local + dt.timedelta(hours=1)).time()  # SMT's malformed "2:00,1:15"
            rows.append((start, end, True))
            t += QUARTER
        return rows
    for i in range(96):  # walk the clock; spring-forward's 2:00-2:45 do not exist
        start = (dt.datetime.combine(day, dt.time()) + i * QUARTER)
        end = start + QUARTER
        exists = start.replace(tzinfo=CENTRAL).astimezone(UTC).astimezone(CENTRAL).replace(tzinfo=None) == start
        rows.append((start.time(), end.time(), exists))
    return rows


def smt_interval_csv(esiid: str, days: Iterable[dt.date], *, raw: bool = True, seed: int = 0,
                     channels: Iterable[str] = ("Consumption",), estimated_days: Iterable[dt.date] = (),
                     revision_lag: dt.timedelta = dt.timedelta(hours=31)) -> bytes:
    """An SMT IntervalMeterUsage CSV for one ESIID. ``raw`` picks SMT's rendering over a spreadsheet re-save."""
    rng = random.Random(seed)
    estimated = set(estimated_days)
    newline = "\r\n" if raw else "\n"
    lines = [",".join(HEADER)]
    for channel in channels:
        scale = 1.6 if channel == "Consumption" else 0.9
        for day in days:
            revised = dt.datetime.combine(day, dt.time()) + revision_lag + dt.timedelta(seconds=rng.randrange(3600))
            flag = "E" if day in estimated else "A"
            for start, end, exists in day_slots(day):
                kwh = f"{rng.uniform(0.0, scale):.3f}" if exists else ""
                lines.append(",".join([
                    f"'{esiid}", _date(day, raw), _stamp(revised, raw), _clock(start, raw), _clock(end, raw),
                    kwh, flag if exists else "", channel]))
    return (newline.join(lines) + newline).encode()


def daily_usage_csv(interval_csv: bytes) -> bytes:
    """The daily meter reads matching an interval CSV (its consumption kWh per local day), as a
    DailyMeterUsage CSV with running register readings."""
    import csv
    import io

    totals: dict[tuple[str, str], float] = {}
    for row in csv.DictReader(io.StringIO(interval_csv.decode())):
        if row["CONSUMPTION_SURPLUSGENERATION"] == "Consumption" and row["USAGE_KWH"]:
            key = (row["ESIID"].lstrip("'"), row["USAGE_DATE"])
            totals[key] = totals.get(key, 0.0) + float(row["USAGE_KWH"])
    lines, reading = ["ESIID,USAGE_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH"], 10000.0
    for (esiid, day), kwh in totals.items():
        lines.append(f"{esiid},{day},{day} 23:59:59,{reading:.3f},{reading + kwh:.3f},{kwh:.3f}")
        reading += kwh
    return ("\n".join(lines) + "\n").encode()


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


SAMPLE_FIRST_DAY = dt.date(2025, 10, 30)  # the earliest day of the generated sample


def seed_inbox(inbox, today: dt.date | None = None) -> list:
    """Write a small sample into the inbox: two homes, one across the last fall-back day, with
    the daily meter reads of the first (they reconcile with its intervals)."""
    from pathlib import Path

    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    oncor = smt_interval_csv("10443720000000001", date_range(SAMPLE_FIRST_DAY, dt.date(2025, 11, 5)),
                             raw=False, seed=1, estimated_days=[dt.date(2025, 11, 5)])
    files = {
        "IntervalMeterUsage_sample_oncor.csv": oncor,
        "DailyMeterUsage_sample_oncor.csv": daily_usage_csv(oncor),
        "IntervalMeterUsage_sample_centerpoint.csv": smt_interval_csv(
            "1008901000000000000001", date_range(dt.date(2026, 3, 6), dt.date(2026, 3, 10)), raw=True, seed=2,
            channels=("Consumption", "Surplus Generation")),
    }
    written = []
    for name, data in files.items():
        path = inbox / name
        if not path.exists():
            path.write_bytes(data)
            written.append(path)
    return written
