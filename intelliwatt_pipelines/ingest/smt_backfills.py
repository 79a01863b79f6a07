"""The backfill side of the SMT lifecycle (vendor-apis.md §2.2, §2.4), each call stored (``smt_exchange``):

- ``submit_enrollments``: for every agreement that turned active with no backfill yet, one
  ``/v2/15minintervalreads/`` request for its history (12 months residential, 24 commercial), the
  answer's correlationId recorded;
- ``poll``: ``/v2/reportrequeststatus/`` for open requests, at most every 15 minutes each;
- ``sweep_gaps``: the daily gap sweep: one repair request per real gap, never for days still inside
  SMT's delivery lag, never twice for a day.

A request becomes ``delivered`` only when an ingested file's coverage spans its window (``mark_delivered``,
run after every ingest batch and every poll), never because a report says so.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm import gap_ledger
from intelliwatt_pipelines.cdm import smt_backfills as backfills
from intelliwatt_pipelines.cdm.smt_authorizations import active_esiids
from intelliwatt_pipelines.ingest.smt_exchange import Caller, SmtStepError
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.vendors.smt import answers, lifecycle
from intelliwatt_pipelines.vendors.smt.client import SmtClient
from intelliwatt_pipelines.vendors.smt.requests import redact_body


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def central_today(now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(CENTRAL_TZ)).date()


def submit(caller: Caller, client: SmtClient, request_id: int, esiid: str, start: dt.date, end: dt.date,
           now: dt.datetime) -> bool:
    """Send one recorded request to SMT; True when accepted (its correlationId stored)."""
    try:
        exchange = caller.call("backfill", lifecycle.INTERVAL_BACKFILL_PATH,
                               lambda: client.interval_backfill(esiid, start, end), esiid=esiid,
                               correlation_of=lambda r: answers.correlation_id(r.content, r.request.trans_id))
    except SmtStepError as exc:
        error = str(exc)
        with caller.engine.begin() as conn:
            backfills.set_submitted(conn, request_id, correlation_id=None, accepted=False, error=error, now=now)
        return False
    response, error = exchange.response, exchange.recorded.error
    correlation = answers.correlation_id(response.content, response.request.trans_id) if response.ok else None
    exchange.settle(caller.engine)
    with caller.engine.begin() as conn:
        backfills.set_submitted(conn, request_id, correlation_id=correlation, accepted=error is None, error=error,
                                now=now)
    return error is None


def submit_enrollments(caller: Caller, client: SmtClient, *, now: dt.datetime | None = None) -> dict:
    """A history request for every active agreement that has none; {submitted, accepted, failed}."""
    now = now or _now()
    with caller.engine.begin() as conn:
        due = backfills.enrollments_due(conn, central_today(now))
    counts = {"submitted": 0, "accepted": 0, "failed": 0}
    for item in due:
        with caller.engine.begin() as conn:
            request_id, created = backfills.open_request(
                conn, esiid=item["esiid"], start=item["start"], end=item["end"], reason="enrollment",
                authorization_id=item["authorization_id"], now=now)
        if not created:
            continue
        counts["submitted"] += 1
        ok = submit(caller, client, request_id, item["esiid"], item["start"], item["end"], now)
        counts["accepted" if ok else "failed"] += 1
    return counts


def poll(caller: Caller, client: SmtClient, *, now: dt.datetime | None = None) -> dict:
    """Report status of open requests not asked in the last 15 minutes, then what ingests delivered."""
    now = now or _now()
    with caller.engine.begin() as conn:
        due = backfills.due_for_poll(conn, now)
    states: dict[str, int] = {}
    for row in due:
        try:
            exchange = caller.call("reportstatus", lifecycle.REPORT_STATUS_PATH,
                                   lambda r=row: client.report_status(r.correlation_id), esiid=row.esiid)
        except SmtStepError:
            states["no answer"] = states.get("no answer", 0) + 1
            continue
        report = (answers.parse_report_status(exchange.response.content) if exchange.response.ok
                  else answers.ReportStatus(f"HTTP {exchange.response.status}", "pending"))
        exchange.settle(caller.engine)
        stored = json.dumps(redact_body(_json_or_text(exchange.response.content)), sort_keys=True)
        with caller.engine.begin() as conn:
            backfills.record_report_status(conn, row.id, state=report.state, report_json=stored, now=now)
        states[report.state] = states.get(report.state, 0) + 1
    with caller.engine.begin() as conn:
        delivered = backfills.mark_delivered(conn, now)
    return {"polled": len(due), "reports": dict(sorted(states.items())), "delivered": len(delivered)}


def _json_or_text(content: bytes):
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")[:2000]


def sweep_gaps(caller: Caller, client: SmtClient, *, lookback_days: int, lag_days: int,
               now: dt.datetime | None = None) -> dict:
    """The gap sweep: the ledger updated for recent days, one repair request per real gap."""
    now = now or _now()
    with caller.engine.begin() as conn:
        result = gap_ledger.sweep(conn, today=central_today(now), lookback_days=lookback_days, lag_days=lag_days,
                                  now=now)
        active = set(active_esiids(conn))
    # SMT serves a history request only under an active agreement: the other gaps wait (no ledger repair).
    repairs = [r for r in result.repairs if r.esiid in active]
    requested = failed = 0
    for repair in repairs:
        with caller.engine.begin() as conn:
            request_id, created = backfills.open_request(conn, esiid=repair.esiid, start=repair.start,
                                                         end=repair.end, reason="gap", authorization_id=None, now=now)
            gap_ledger.record_repair(conn, repair, request_id, now)
        if created:
            ok = submit(caller, client, request_id, repair.esiid, repair.start, repair.end, now)
            requested, failed = requested + ok, failed + (not ok)
    return {"repairs_requested": requested, "repairs_failed": failed,
            "repairs_waiting_for_an_agreement": len(result.repairs) - len(repairs), "days": dict(result.counts),
            "homes_with_repairs": ", ".join(sorted({mask(r.esiid) for r in repairs})[:20])}
