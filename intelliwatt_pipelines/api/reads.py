"""Queries behind the read routes. Canonical tables only; every query is an index range scan.

Intervals are read one series (meter, channel) at a time, so each query is a range on the primary
key (esiid, meter, channel, ts_utc) however long the ESIID's history is. Pages are ordered by
(meter, channel, ts_utc) and continue from an opaque keyset cursor.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.timeparams import CENTRAL, YEARS
from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, raw_file_coverage, upload, usage_interval

dc, ui = daily_completeness.c, usage_interval.c
INTERVAL_COLUMNS = (ui.meter, ui.channel, ui.ts_utc, ui.interval_minutes, ui.kwh, ui.quality, ui.source,
                    ui.raw_file_id, ui.revised_at)


@dataclass(frozen=True)
class Cursor:
    meter: str
    channel: str
    ts_utc: dt.datetime

    def encode(self) -> str:
        raw = orjson.dumps([self.meter, self.channel, self.ts_utc.isoformat()])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            meter, channel, ts = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            ts_utc = dt.datetime.fromisoformat(ts)
            if ts_utc.tzinfo is None or not isinstance(meter, str) or not isinstance(channel, str):
                raise ValueError
            ts_utc = ts_utc.astimezone(dt.timezone.utc)
            if not YEARS[0] <= ts_utc.year <= YEARS[1] or "\x00" in meter + channel:
                raise ValueError
            return cls(meter, channel, ts_utc)
        except Exception:  # anything undecodable, out of range or of the wrong shape
            raise ApiError(422, "invalid_parameter", "cursor: not a cursor this API returned") from None


def series(conn: sa.Connection, esiid: str, meter: str | None = None, channel: str | None = None) -> list[tuple[str, str]]:
    """The ESIID's (meter, channel) series, optionally filtered; 404 when the ESIID is unknown."""
    rows = conn.execute(sa.select(dc.meter, dc.channel).distinct().where(dc.esiid == esiid)).all()
    if not rows:
        raise ApiError(404, "not_found", "no usage is stored for this ESIID")
    # Sorted here, not by the database: the cursor compares series in Python, and a database
    # collation (en_US: 'a7' < 'B7') may order them differently.
    return sorted((m, c) for m, c in rows if (meter is None or m == meter) and (channel is None or c == channel))


def interval_page(conn: sa.Connection, esiid: str, wanted: list[tuple[str, str]], start: dt.datetime | None,
                  end: dt.datetime | None, limit: int, after: Cursor | None) -> tuple[list, Cursor | None]:
    """Up to ``limit`` intervals in [start, end) after the cursor, and the cursor for the next page."""
    rows: list = []
    for meter, channel in wanted:
        if after and (meter, channel) < (after.meter, after.channel):
            continue
        where = [ui.esiid == esiid, ui.meter == meter, ui.channel == channel]
        if start is not None:
            where.append(ui.ts_utc >= start)
        if end is not None:
            where.append(ui.ts_utc < end)
        if after and (meter, channel) == (after.meter, after.channel):
            where.append(ui.ts_utc > after.ts_utc)
        need = limit - len(rows)
        got = conn.execute(sa.select(*INTERVAL_COLUMNS).where(*where).order_by(ui.ts_utc).limit(need + 1)).all()
        if len(got) > need:
            rows += got[:need]
            last = rows[-1]
            return rows, Cursor(last.meter, last.channel, last.ts_utc)
        rows += got
    return rows, None


def interval_json(row) -> dict:
    return {"ts": row.ts_utc, "local": row.ts_utc.astimezone(CENTRAL), "meter": row.meter, "channel": row.channel,
            "minutes": row.interval_minutes, "kwh": row.kwh, "quality": row.quality, "source": row.source,
            "raw_file_id": row.raw_file_id, "revised_at": row.revised_at}


CSV_HEADER = "ts_utc,local_time,meter,channel,interval_minutes,kwh,quality,source,raw_file_id,revised_at\n"


def interval_csv(rows: list) -> str:
    def z(value: dt.datetime | None) -> str:
        return "" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")

    return "".join(
        f"{z(r.ts_utc)},{r.ts_utc.astimezone(CENTRAL).isoformat()},{_csv_text(r.meter)},{r.channel},"
        f"{r.interval_minutes},{r.kwh!r},{r.quality},{r.source},{r.raw_file_id},{z(r.revised_at)}\n" for r in rows)


def _csv_text(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(ch in value for ch in ',"\n\r') else value


def stream_interval_csv(engine: sa.Engine, esiid: str, wanted: list[tuple[str, str]], start, end,
                        page: int = 5000) -> Iterator[str]:
    """The whole window as CSV, a page at a time (bounded memory for any length)."""
    yield CSV_HEADER
    after = None
    while True:
        with engine.connect() as conn:
            rows, after = interval_page(conn, esiid, wanted, start, end, page, after)
        if rows:
            yield interval_csv(rows)
        if after is None:
            return


def completeness_days(conn: sa.Connection, esiid: str, first: dt.date | None, last: dt.date | None,
                      meter: str | None, channel: str | None) -> list[dict]:
    where = [dc.esiid == esiid]
    for column, value in ((dc.meter, meter), (dc.channel, channel)):
        if value is not None:
            where.append(column == value)
    if first is not None:
        where.append(dc.local_date >= first)
    if last is not None:
        where.append(dc.local_date <= last)
    rows = conn.execute(sa.select(daily_completeness).where(*where)
                        .order_by(dc.local_date, dc.meter, dc.channel)).all()
    return [{"date": r.local_date, "meter": r.meter, "channel": r.channel, "interval_minutes": r.interval_minutes,
             "expected": r.expected_intervals, "found": r.actual_intervals, "estimated": r.estimated_intervals,
             "filled": r.filled_intervals, "kwh_real": r.kwh_real, "kwh_filled": r.kwh_filled,
             "completeness": r.completeness, "status": r.status} for r in rows]


def summary(conn: sa.Connection, esiid: str) -> dict:
    """Per series and in total: first/last interval, interval counts, kWh, days by status."""
    out = []
    for meter, channel in series(conn, esiid):
        key = [dc.esiid == esiid, dc.meter == meter, dc.channel == channel]
        days = conn.execute(sa.select(
            dc.status, sa.func.count(), sa.func.sum(dc.actual_intervals), sa.func.sum(dc.estimated_intervals),
            sa.func.sum(dc.filled_intervals), sa.func.sum(dc.kwh_real)).where(*key).group_by(dc.status)).all()
        ikey = [ui.esiid == esiid, ui.meter == meter, ui.channel == channel]
        first = conn.execute(sa.select(ui.ts_utc).where(*ikey).order_by(ui.ts_utc).limit(1)).scalar()
        last = conn.execute(sa.select(ui.ts_utc).where(*ikey).order_by(ui.ts_utc.desc()).limit(1)).scalar()
        by_status = {status: n for status, n, *_ in days}
        out.append({
            "meter": meter, "channel": channel, "first_interval": first, "last_interval": last,
            "intervals_real": int(sum(d[2] or 0 for d in days)), "intervals_estimated": int(sum(d[3] or 0 for d in days)),
            "intervals_filled": int(sum(d[4] or 0 for d in days)), "kwh": float(sum(d[5] or 0 for d in days)),
            "days": int(sum(by_status.values())), "days_complete": by_status.get("complete", 0),
            "days_incomplete": by_status.get("partial", 0) + by_status.get("gaps", 0),
            "days_partial": by_status.get("partial", 0), "days_gaps": by_status.get("gaps", 0),
        })
    firsts = [s["first_interval"] for s in out if s["first_interval"]]
    lasts = [s["last_interval"] for s in out if s["last_interval"]]
    consumption = [s for s in out if s["channel"] == "consumption"]
    return {
        "first_interval": min(firsts) if firsts else None,
        "last_interval": max(lasts) if lasts else None,
        "kwh_consumption": sum(s["kwh"] for s in consumption),
        "kwh_generation": sum(s["kwh"] for s in out if s["channel"] == "generation"),
        "intervals_real": sum(s["intervals_real"] for s in out),
        "days_complete": sum(s["days_complete"] for s in consumption or out),
        "days_incomplete": sum(s["days_incomplete"] for s in consumption or out),
        "series": out,
    }


def as_dict(row) -> dict:
    # Column names come back as a str subclass, which orjson does not take as keys.
    return {str(k): v for k, v in row._mapping.items()}


def raw_files(conn: sa.Connection, status: str | None, limit: int, before_id: int | None) -> list[dict]:
    where = []
    if status:
        where.append(raw_file.c.status == status)
    if before_id is not None:
        where.append(raw_file.c.id < before_id)
    rows = conn.execute(sa.select(raw_file).where(*where).order_by(raw_file.c.id.desc()).limit(limit)).all()
    return [as_dict(r) for r in rows]


def raw_file_detail(conn: sa.Connection, raw_file_id: int) -> dict:
    row = conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no raw file with id {raw_file_id}")
    cov = raw_file_coverage.c
    coverage = conn.execute(sa.select(cov.esiid, cov.meter, cov.channel, cov.first_local_date, cov.last_local_date,
                                      cov.intervals).where(cov.raw_file_id == raw_file_id)
                            .order_by(cov.esiid, cov.meter, cov.channel)).all()
    children = conn.execute(sa.select(raw_file.c.id, raw_file.c.filename, raw_file.c.status)
                            .where(raw_file.c.parent_id == raw_file_id).order_by(raw_file.c.id)).all()
    up = upload.c
    uploads = conn.execute(sa.select(up.id, up.role, up.via, up.filename, up.esiid, up.meter, up.received_at,
                                     up.correlation_id).where(up.raw_file_id == raw_file_id).order_by(up.id)).all()
    return {**as_dict(row), "coverage": [as_dict(c) for c in coverage],
            "children": [as_dict(c) for c in children], "uploads": [as_dict(u) for u in uploads]}
