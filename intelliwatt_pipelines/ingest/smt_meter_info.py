"""Meter info from ``/v2/meterInfo/`` (vendor-apis.md §2.3): one JSON call per ESIID, each answer stored
as a raw file with its audit row (``smt_calls``), then read (``answers.parse_meter_info``) into
``smt_meter_info``. Lineage: API call -> raw file -> rows.

SMT error 2076 ("API Integration is not done.") means this CSP gets meter info as an SFTP CSV
(kind ``smt_meter_info_csv``, taken by the inbox like any delivery): it is recorded as a row with status
``api_not_enabled`` and never retried. Any other unusable answer is a ``failed`` row with the reason.
Status rows have meter number ``unknown`` and never replace a real meter (``cdm.meter_info``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.vendor import SMT_API_ANSWER_KIND
from intelliwatt_pipelines.cdm.meter_info import STATUS_ONLY_METER, meter_problem, store_meter_info
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.smt_calls import record_answer, record_no_answer, set_call_error
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.smt.answers import MeterInfoAnswer, parse_meter_info
from intelliwatt_pipelines.vendors.smt.client import SmtUnavailable
from intelliwatt_pipelines.vendors.smt.lifecycle import METER_INFO_PATH
from intelliwatt_pipelines.vendors.smt.requests import SmtResponse


@dataclass(frozen=True)
class MeterInfoResult:
    """One ESIID's call: ``status`` ok | api_not_enabled | failed, the meters stored and why not."""

    esiid: str
    status: str
    http_status: int | None
    raw_file_id: int | None = None
    meter_numbers: list[str] = field(default_factory=list)
    rows_written: int = 0
    error: str | None = None

    @property
    def failed(self) -> bool:
        """No meter came and it was not 2076 (which is an answer: use the SFTP CSV)."""
        return self.status == "failed"


def meter_info_filename(esiid: str, trans_id: str | None) -> str:
    """``smt_meterinfo_<esiid>_<trans_id>.json`` (log it with ``pii.redact``)."""
    return f"smt_meterinfo_{esiid}_{trans_id or 'none'}.json"


def fetch_meter_info(engine: sa.Engine, store: RawStore, client, esiids: list[str], *, run_id: str | None,
                     now: dt.datetime | None = None) -> list[MeterInfoResult]:
    """Ask ``/v2/meterInfo/`` about each ESIID, one call each (``client``: an ``SmtClient``), and store
    every answer and its meters. One ESIID's failure spares the others; the results say how each went."""
    return [_fetch_one(engine, store, client, esiid, run_id=run_id, called_at=now or dt.datetime.now(dt.timezone.utc))
            for esiid in esiids]


def _fetch_one(engine: sa.Engine, store: RawStore, client, esiid: str, *, run_id: str | None,
               called_at: dt.datetime) -> MeterInfoResult:
    try:
        response = client.meter_info([esiid])
    except SmtUnavailable as exc:
        if exc.response is None:  # no answer at all: only the audit row (smt_meter_info needs a raw file)
            record_no_answer(engine, endpoint=METER_INFO_PATH, request={"ESIIDMeterList": [{"esiid": mask(esiid)}]},
                             esiid=esiid, run_id=run_id, called_at=called_at, error=str(exc),
                             attempts=client.config.attempts)
            return MeterInfoResult(esiid, "failed", None, error=str(exc))
        response = exc.response  # the last 5xx answer: stored like any other
    return store_meter_answer(engine, store, esiid, response, run_id=run_id, called_at=called_at)


def _rows(answer: MeterInfoAnswer, esiid: str) -> tuple[MeterInfoAnswer, list[dict], list[str]]:
    """The answer's storable meters (an ESIID the answer leaves out is the one asked about) and the
    reasons others were dropped; an ``ok`` answer with none left becomes ``failed``."""
    rows, dropped = [], []
    for row in answer.rows:
        row = {**row, "esiid": row.get("esiid") or esiid, "status": "ok"}
        problem = meter_problem(row)
        (dropped if problem else rows).append(problem or row)
    if answer.status == "ok" and not rows:
        return MeterInfoAnswer("failed", [], "no usable meter in the answer: " + "; ".join(dropped)), [], dropped
    return answer, rows, dropped


def store_meter_answer(engine: sa.Engine, store: RawStore, esiid: str, response: SmtResponse, *,
                       run_id: str | None, called_at: dt.datetime) -> MeterInfoResult:
    """Store one ``/v2/meterInfo/`` answer: its bytes and audit row, then its meters or its status row,
    and (a 2xx answer first seen) its raw file ``normalized``, or ``failed`` with the reason."""
    # kind given: detected, a meterInfo JSON would pass for monthly reads (it is read here, never normalized)
    recorded = record_answer(engine, store, response, filename=meter_info_filename(esiid, response.request.trans_id),
                             esiid=esiid, run_id=run_id, called_at=called_at, kind=SMT_API_ANSWER_KIND)
    parsed = parse_meter_info(response.status, response.content)
    answer, rows, dropped = _rows(parsed, esiid)
    raw_id = recorded.captured.raw_file_id
    if answer.status != "ok":
        rows = [{"esiid": esiid, "meter_number": STATUS_ONLY_METER, "status": answer.status, "error": answer.error}]
    with engine.begin() as conn:
        written = store_meter_info(conn, rows, raw_file_id=raw_id, now=called_at)
        if response.ok and recorded.captured.status == "received":
            _mark(conn, raw_id, answer, read=len(parsed.rows), dropped=dropped, run_id=run_id)
    if answer.status != "ok" and response.ok:
        set_call_error(engine, recorded.call_id, answer.error or answer.status)
    meters = [r["meter_number"] for r in rows] if answer.status == "ok" else []
    return MeterInfoResult(esiid, answer.status, response.status, raw_id, meters, written,
                           None if answer.status == "ok" else answer.error)


def _mark(conn: sa.Connection, raw_file_id: int, answer: MeterInfoAnswer, *, read: int, dropped: list[str],
          run_id: str | None) -> None:
    ok = answer.status == "ok"
    error = answer.error if not ok else ("; ".join(f"meter dropped: {d}" for d in dropped) or None)
    conn.execute(sa.update(raw_file).where(raw_file.c.id == raw_file_id).values(
        status="normalized" if ok else "failed", error=error, rows_read=read,
        rows_valid=read - len(dropped) if ok else 0, rows_invalid=len(dropped) if ok else read, rows_skipped=0,
        run_id=run_id, normalized_at=dt.datetime.now(dt.timezone.utc) if ok else None))
