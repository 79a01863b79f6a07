"""Usage pulls from ``/v2/energydata/`` (vendor-apis.md §2.1): the windows a pull is cut into, and each
answer stored as a raw file with its audit row (``smt_calls``), then, when 2xx, normalized like any
delivered file. Lineage: API call -> raw file -> rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.smt_backfills import months_before
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.ingest.smt_calls import record_answer, record_no_answer, set_call_error
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.smt.requests import ENERGYDATA_PATH, SmtResponse, mdy

MONTHLY_MAX_MONTHS = 13  # SMT returns up to 13 months of monthly reads in one call
INTERVAL_MAX_DAYS = 31  # and up to 31 days of intervals


@dataclass(frozen=True)
class Window:
    """One call's days, first and last included."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class CallResult:
    """One call's outcome: ``error`` None when its answer was 2xx and its rows landed."""

    esiid: str
    window: Window
    http_status: int | None
    raw_file_id: int | None = None
    new_file: bool = False
    rows_written: int = 0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def windows(start: dt.date, end: dt.date, *, days: int | None = None, months: int | None = None) -> list[Window]:
    """``start`` to ``end`` cut into consecutive windows of at most ``days`` days or ``months`` months."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out, first = [], start
    while first <= end:
        after = first + dt.timedelta(days=days) if days else months_before(first, -(months or 1))
        last = min(end, after - dt.timedelta(days=1))
        out.append(Window(first, last))
        first = last + dt.timedelta(days=1)
    return out


def energydata_filename(esiid: str, window: Window, trans_id: str | None) -> str:
    """``smt_energydata_<esiid>_<YYYYMMDD>-<YYYYMMDD>_<trans_id>.json``: the ESIID in the name is how the
    normalizer knows whose rows they are (the answers do not always say). Log it with ``pii.redact``."""
    return (f"smt_energydata_{esiid}_{window.start:%Y%m%d}-{window.end:%Y%m%d}_{trans_id or 'none'}.json")


def unanswered_request(esiid: str, window: Window) -> dict:
    """What a call that got no answer asked for (its client keeps no request then): days and mask."""
    return {"startDate": mdy(window.start), "endDate": mdy(window.end), "ESIIDList": [mask(esiid)]}


def store_energydata(engine: sa.Engine, store: RawStore, *, esiid: str, window: Window,
                     response: SmtResponse | None, called_at: dt.datetime, run_id: str | None = None,
                     no_answer: str | None = None, attempts: int = 1, reading_window=None, **rules) -> CallResult:
    """Store one ``/v2/energydata/`` call: its answer as a raw file and its audit row, then its rows
    (``reading_window`` and ``rules``: ``normalize_raw_file``'s ``window`` and others). ``response`` None means no answer came (``no_answer`` says
    why): only the audit row is written."""
    if response is None:
        error = no_answer or "no answer"
        record_no_answer(engine, endpoint=ENERGYDATA_PATH, request=unanswered_request(esiid, window), esiid=esiid,
                         run_id=run_id, called_at=called_at, error=error, attempts=attempts)
        return CallResult(esiid, window, None, error=error)
    filename = energydata_filename(esiid, window, response.request.trans_id)
    recorded = record_answer(engine, store, response, filename=filename, esiid=esiid, run_id=run_id,
                             called_at=called_at)
    captured, error = recorded.captured, recorded.error
    rows = 0
    if error is None and captured.status == "received":
        if reading_window is not None:
            rules["window"] = reading_window
        outcome = normalize_raw_file(engine, store, captured.raw_file_id, run_id=run_id, **rules)
        rows = outcome.rows_written
        error = None if outcome.status == "normalized" else f"its rows could not be stored: {outcome.error}"
    elif error is None and captured.status != "normalized":
        error = f"the same answer was stored before as raw file {captured.raw_file_id}, {captured.status}"
    if error is not None and response.ok:
        set_call_error(engine, recorded.call_id, error)
    return CallResult(esiid, window, response.status, captured.raw_file_id, captured.new, rows, error)
