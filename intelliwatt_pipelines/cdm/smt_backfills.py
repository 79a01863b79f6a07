"""Historical interval requests to SMT (vendor-apis.md §2.2): the ``smt_backfill_request`` rows, from
"open" to "delivered", where delivered means ingested coverage spans the window (never a report alone)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.vendor import BACKFILL_REASONS
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import raw_file, raw_file_coverage, smt_authorization, smt_backfill_request

OPEN = ("requested", "accepted")
REOPENABLE = ("failed", "expired")  # asked again: the same window is requested anew
REPORT_STATES = ("pending", "accepted", "delivered", "failed")
MAX_MONTHS = {"res": 12, "com": 24}  # SMT's history limits per account class (§2.2)
_BATCH = 200  # requests per coverage query
POLL_EVERY = dt.timedelta(minutes=15)  # report status at most this often per request (§2.2 sensor)

r = smt_backfill_request.c


def open_request(conn: sa.Connection, *, esiid: str, start: dt.date, end: dt.date, reason: str,
                 authorization_id: int | None, now: dt.datetime) -> tuple[int, bool]:
    """The request for (esiid, start, end): ``(id, True)`` when created, or reopened from failed or
    expired (its earlier answer and error cleared); ``(id, False)`` when one is already open or delivered
    (returned unchanged)."""
    if reason not in BACKFILL_REASONS:
        raise ValueError(f"reason must be one of {sorted(BACKFILL_REASONS)}")
    if start > end:
        raise ValueError("start must not be after end")
    new_id = conn.execute(dialect_insert(conn, smt_backfill_request).values(
        esiid=esiid, authorization_id=authorization_id, reason=reason, requested_start=start,
        requested_end=end, status="requested", created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["esiid", "requested_start", "requested_end"])
        .returning(r.id)).scalar()
    if new_id is not None:
        return new_id, True
    row = conn.execute(sa.select(r.id, r.status).where(
        r.esiid == esiid, r.requested_start == start, r.requested_end == end)).one()
    if row.status not in REOPENABLE:
        return row.id, False
    conn.execute(smt_backfill_request.update().where(r.id == row.id).values(
        status="requested", reason=reason, authorization_id=sa.func.coalesce(authorization_id, r.authorization_id),
        correlation_id=None, error=None, last_polled_at=None, last_report_status_json=None,
        delivered_raw_file_ids=None, updated_at=now))
    return row.id, True


def set_submitted(conn: sa.Connection, request_id: int, *, correlation_id: str | None, accepted: bool,
                  error: str | None, now: dt.datetime) -> None:
    """Record the ``/v2/15minintervalreads/`` answer: accepted (with SMT's correlationId) or failed."""
    conn.execute(smt_backfill_request.update().where(r.id == request_id).values(
        status="accepted" if accepted else "failed", correlation_id=correlation_id,
        error=None if accepted else (error or "SMT refused the request"), updated_at=now))


def record_report_status(conn: sa.Connection, request_id: int, *, state: str, report_json: str,
                         now: dt.datetime) -> None:
    """Record a ``/v2/reportrequeststatus/`` answer (``report_json`` already redacted). A failed report
    fails an open request; accepted moves requested on to accepted; pending and delivered change no status
    (only ingested coverage delivers, see ``mark_delivered``)."""
    if state not in REPORT_STATES:
        raise ValueError(f"state must be one of {REPORT_STATES}")
    row = conn.execute(sa.select(r.status, r.last_report_status_json).where(r.id == request_id)).one()
    values: dict = {"last_polled_at": now}
    status = row.status
    if row.status in OPEN and state == "failed":
        status = "failed"
        values["error"] = "SMT reported the request failed"
    elif row.status == "requested" and state == "accepted":
        status = "accepted"
    if status != row.status or report_json != row.last_report_status_json:
        values |= {"status": status, "last_report_status_json": report_json, "updated_at": now}
    conn.execute(smt_backfill_request.update().where(r.id == request_id).values(**values))


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (later when negative), clamped to the month's last day
    (31 Mar − 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_month - dt.timedelta(days=1)).day))


def enrollments_due(conn: sa.Connection, today: dt.date) -> list[dict]:
    """ACTIVE, unarchived authorizations with no enrollment request yet, each with its window
    ``[today − months_back months, today − 1 day]`` (at most 12 months residential, 24 commercial).

    Each dict: ``authorization_id, esiid, account_class, months, start, end``."""
    a = smt_authorization.c
    asked = sa.select(r.id).where(r.authorization_id == a.id, r.reason == "enrollment").exists()
    rows = conn.execute(sa.select(a.id, a.esiid, a.account_class, a.months_back).where(
        a.smt_status == "ACTIVE", a.archived_at.is_(None), ~asked).order_by(a.id)).all()
    out = []
    for row in rows:
        months = min(row.months_back, MAX_MONTHS[row.account_class])
        out.append({"authorization_id": row.id, "esiid": row.esiid, "account_class": row.account_class,
                    "months": months, "start": months_before(today, months), "end": today - dt.timedelta(days=1)})
    return out


def due_for_poll(conn: sa.Connection, now: dt.datetime, every: dt.timedelta = POLL_EVERY) -> list[sa.Row]:
    """Requests whose report status is due: accepted (or requested with a correlation id), not polled
    within ``every``."""
    pollable = sa.or_(r.status == "accepted", sa.and_(r.status == "requested", r.correlation_id.is_not(None)))
    stale = sa.or_(r.last_polled_at.is_(None), r.last_polled_at <= now - every)
    return list(conn.execute(sa.select(smt_backfill_request).where(pollable, stale).order_by(r.id)))


def _covered(ranges: list[tuple[dt.date, dt.date]], start: dt.date, end: dt.date) -> bool:
    """Whether the union of day ranges (touching or overlapping ones merge) holds every day of [start, end]."""
    reach = start - dt.timedelta(days=1)  # last day covered so far
    for first, last in sorted(ranges):
        if first > reach + dt.timedelta(days=1):
            break
        reach = max(reach, last)
        if reach >= end:
            return True
    return reach >= end


def _coverage(conn: sa.Connection, batch: list) -> dict[str, list[tuple]]:
    """Consumption coverage of normalized raw files for the batch's ESIIDs, by ESIID: one query."""
    c = raw_file_coverage.c
    rows = conn.execute(
        sa.select(c.esiid, c.raw_file_id, c.first_local_date, c.last_local_date, raw_file.c.received_at)
        .join(raw_file, raw_file.c.id == c.raw_file_id)
        .where(c.esiid.in_({q.esiid for q in batch}), c.channel == "consumption", raw_file.c.status == "normalized",
               c.last_local_date >= min(q.requested_start for q in batch),
               c.first_local_date <= max(q.requested_end for q in batch))).all()
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row.esiid, []).append(tuple(row)[1:])  # (raw_file_id, first, last, received_at)
    return out


def mark_delivered(conn: sa.Connection, now: dt.datetime, esiids: Iterable[str] | None = None) -> list[int]:
    """Mark delivered each open request (of ``esiids``, or all) whose window the ingested coverage spans:
    the consumption ``raw_file_coverage`` of normalized raw files of its ESIID (any meter) received since
    the request was made: a file's coverage runs from its first to its last day, holes included, so the
    file that left a gap must not deliver that gap's repair. Records the files overlapping the window
    in ``delivered_raw_file_ids``. Returns the ids marked."""
    query = sa.select(r.id, r.esiid, r.requested_start, r.requested_end, r.created_at).where(r.status.in_(OPEN)).order_by(r.id)
    if esiids is not None:
        query = query.where(r.esiid.in_(set(esiids)))
    requests = conn.execute(query).all()
    marked = []
    for i in range(0, len(requests), _BATCH):
        batch = requests[i:i + _BATCH]
        coverage = _coverage(conn, batch)
        for q in batch:
            files = [f for f in coverage.get(q.esiid, ())
                     if f[1] <= q.requested_end and f[2] >= q.requested_start and f[3] >= q.created_at]
            if files and _covered([(f[1], f[2]) for f in files], q.requested_start, q.requested_end):
                ids = ",".join(str(n) for n in sorted({f[0] for f in files}))
                conn.execute(smt_backfill_request.update().where(r.id == q.id, r.status.in_(OPEN)).values(
                    status="delivered", delivered_raw_file_ids=ids, error=None, updated_at=now))
                marked.append(q.id)
    return marked
