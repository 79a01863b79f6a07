"""The gap sweep (vendor-apis.md §2.4): each ESIID's recent days in ``interval_day_ledger``, and the
day ranges worth one repair request (an SMT backfill) each.

Days checked, for ``today`` (America/Chicago), ``lag_days`` L and ``lookback_days`` K:
``today − L − K … today − 1`` (today itself is never whole yet). The last L of them (``today − L …
today − 1``) are SMT's delivery lag: not complete → PENDING_SMT. The K older ones are repair candidates
when not complete. Per ESIID and day (consumption channel, any meter):

- a ``complete`` daily_completeness row → COMPLETE;
- inside the lag, otherwise → PENDING_SMT;
- older, ``gaps``/``partial``, or missing inside the ESIID's delivered range (or already in the ledger):
  no repair yet → a repair candidate (its ledger row is written by ``record_repair``, once requested);
  its one repair already made → INCOMPLETE_METER. A day never gets a second repair.

An older day with no row outside the delivered range (before the data starts, or after it stopped and
was never tracked) is not the sweep's: it gets no ledger row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import daily_completeness, interval_day_ledger

DAY = dt.timedelta(days=1)
REPAIR_DUE = "REPAIR_DUE"  # a count in SweepResult, not a ledger status: the day is in ``repairs``

led = interval_day_ledger.c


@dataclass(frozen=True)
class GapRepair:
    """Consecutive days of one ESIID to ask SMT for again (one backfill request: [start, end])."""

    esiid: str
    start: dt.date
    end: dt.date
    days: list[dt.date]


@dataclass(frozen=True)
class SweepResult:
    repairs: list[GapRepair]
    counts: dict[str, int] = field(default_factory=dict)  # days checked per ledger status, and REPAIR_DUE
    written: int = 0  # ledger rows inserted or changed


def checked_days(today: dt.date, lookback_days: int = 3, lag_days: int = 2) -> tuple[dt.date, dt.date]:
    """First and last day a sweep on ``today`` checks (see the module docstring)."""
    return today - (lag_days + lookback_days) * DAY, today - DAY


def _day_facts(conn: sa.Connection, first: dt.date, last: dt.date,
               esiid: str | None = None) -> dict[str, dict[dt.date, tuple[bool, int]]]:
    """Per ESIID and day in [first, last]: (complete on some consumption series, its most real intervals)."""
    c = daily_completeness.c
    complete = sa.func.max(sa.case((c.status == "complete", 1), else_=0))
    query = (sa.select(c.esiid, c.local_date, complete, sa.func.max(c.actual_intervals))
             .where(c.channel == "consumption", c.local_date >= first, c.local_date <= last)
             .group_by(c.esiid, c.local_date))
    if esiid is not None:
        query = query.where(c.esiid == esiid)
    out: dict[str, dict] = {}
    for e, day, is_complete, intervals in conn.execute(query):
        day = dt.date.fromisoformat(day) if isinstance(day, str) else day  # SQLite aggregates: text
        out.setdefault(e, {})[day] = (bool(is_complete), int(intervals or 0))
    return out


def _ledger(conn: sa.Connection, first: dt.date, last: dt.date) -> dict[tuple[str, dt.date], sa.Row]:
    rows = conn.execute(sa.select(interval_day_ledger).where(led.local_date >= first, led.local_date <= last))
    return {(row.esiid, row.local_date): row for row in rows}


def _status(day: dt.date, fact: tuple[bool, int] | None, row, *, pending_from: dt.date, inside: bool) -> str | None:
    """What the sweep decides for one day (None: not the sweep's day)."""
    if fact is not None and fact[0]:
        return "COMPLETE"
    if day >= pending_from:
        return "PENDING_SMT"
    if row is not None and row.repair_request_id is not None:
        return "INCOMPLETE_METER"  # its one repair was made and the day is still not whole
    if fact is not None or inside or row is not None:
        return REPAIR_DUE
    return None


def _repairs(esiid: str, days: list[dt.date]) -> list[GapRepair]:
    """Consecutive candidate days merged into one range each."""
    out: list[list[dt.date]] = []
    for day in sorted(days):
        if out and out[-1][-1] + DAY == day:
            out[-1].append(day)
        else:
            out.append([day])
    return [GapRepair(esiid, run[0], run[-1], run) for run in out]


def sweep(conn: sa.Connection, *, today: dt.date, lookback_days: int = 3, lag_days: int = 2,
          now: dt.datetime) -> SweepResult:
    """Decide the checked days of every ESIID with a consumption daily_completeness row among them,
    write the ledger rows that changed (``updated_at`` untouched otherwise) and list the repairs to
    request (record each with ``record_repair`` once its backfill request exists)."""
    first, last = checked_days(today, lookback_days, lag_days)
    facts = _day_facts(conn, first - DAY, today)  # a day either side: is a missing day inside the data?
    ledger = _ledger(conn, first, last)
    counts: dict[str, int] = {}
    repairs: list[GapRepair] = []
    writes: list[dict] = []
    for esiid, days in sorted(facts.items()):
        if not any(first <= d <= last for d in days):
            continue
        lo, hi = min(days), max(days)
        due = []
        for i in range((last - first).days + 1):
            day = first + i * DAY
            fact, row = days.get(day), ledger.get((esiid, day))
            status = _status(day, fact, row, pending_from=today - lag_days * DAY, inside=lo < day < hi)
            if status is None:
                continue
            counts[status] = counts.get(status, 0) + 1
            intervals = fact[1] if fact else 0
            if status == REPAIR_DUE:
                due.append(day)
            elif row is None or (row.status, row.intervals_at_last_check) != (status, intervals):
                writes.append({"esiid": esiid, "local_date": day, "status": status,
                               "intervals_at_last_check": intervals, "updated_at": now})
        repairs += _repairs(esiid, due)
    _upsert(conn, writes)
    return SweepResult(repairs=repairs, counts=counts, written=len(writes))


def _upsert(conn: sa.Connection, rows: list[dict]) -> None:
    if not rows:
        return
    stmt = dialect_insert(conn, interval_day_ledger)
    stmt = stmt.on_conflict_do_update(
        index_elements=["esiid", "local_date"],
        set_={c: getattr(stmt.excluded, c) for c in ("status", "intervals_at_last_check", "updated_at")})
    conn.execute(stmt, rows)


def record_repair(conn: sa.Connection, repair: GapRepair, request_id: int, now: dt.datetime) -> None:
    """Mark the repair's days REPAIR_REQUESTED with ``request_id``. A day that already had its repair
    keeps it (never a second one)."""
    facts = _day_facts(conn, min(repair.days), max(repair.days), repair.esiid).get(repair.esiid, {})
    rows = [{"esiid": repair.esiid, "local_date": day, "status": "REPAIR_REQUESTED", "repair_request_id": request_id,
             "repair_requested_at": now, "intervals_at_last_check": facts.get(day, (False, 0))[1], "updated_at": now}
            for day in repair.days]
    if not rows:
        return
    stmt = dialect_insert(conn, interval_day_ledger)
    stmt = stmt.on_conflict_do_update(
        index_elements=["esiid", "local_date"],
        set_={c: getattr(stmt.excluded, c) for c in rows[0] if c not in ("esiid", "local_date")},
        where=led.repair_request_id.is_(None))
    conn.execute(stmt, rows)
