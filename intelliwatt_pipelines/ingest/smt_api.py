"""SMT API answers as raw files (vendor-apis.md §2.1): every answer's bytes, verbatim and whatever its
status, go to the raw store with ``source=smt_api`` before any parsing, with one ``smt_api_call`` audit
row per call; 2xx answers are then normalized like any delivered file. Lineage: API call -> raw file
-> rows. Non-2xx answers are stored as kind ``smt_api_error``, status ``failed``, the HTTP status in
``raw_file.error``. The same bytes again (a re-run) are one raw file: nothing new is written but the
audit row of the new call.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.vendor import SMT_API_ERROR_KIND, SMT_API_SOURCE
from intelliwatt_pipelines.cdm.raw_files import Captured, register
from intelliwatt_pipelines.cdm.tables import raw_file, smt_api_call
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.kinds import HEAD_BYTES, detect_kind
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.smt.requests import ENERGYDATA_PATH, SmtResponse, excerpt, mdy

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


def _months_later(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def windows(start: dt.date, end: dt.date, *, days: int | None = None, months: int | None = None) -> list[Window]:
    """``start`` to ``end`` cut into consecutive windows of at most ``days`` days or ``months`` months."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out, first = [], start
    while first <= end:
        after = first + dt.timedelta(days=days) if days else _months_later(first, months or 1)
        last = min(end, after - dt.timedelta(days=1))
        out.append(Window(first, last))
        first = last + dt.timedelta(days=1)
    return out


def energydata_filename(esiid: str, window: Window, trans_id: str | None) -> str:
    """``smt_energydata_<esiid>_<YYYYMMDD>-<YYYYMMDD>_<trans_id>.json``: the ESIID in the name is how the
    normalizer knows whose rows they are (the answers do not always say). Log it with ``pii.redact``."""
    return (f"smt_energydata_{esiid}_{window.start:%Y%m%d}-{window.end:%Y%m%d}_{trans_id or 'none'}.json")


def unanswered_request(esiid: str, window: Window) -> str:
    """What a call that got no answer asked for (its client keeps no request then): path, days, mask."""
    return json.dumps({"method": "POST", "path": ENERGYDATA_PATH, "body": {
        "startDate": mdy(window.start), "endDate": mdy(window.end), "ESIIDList": [mask(esiid)]}}, sort_keys=True)


def _audit(conn: sa.Connection, *, called_at: dt.datetime, esiid: str, run_id: str | None, request: str,
           response: SmtResponse | None, raw_file_id: int | None, error: str | None, attempts: int) -> int:
    return conn.execute(sa.insert(smt_api_call).values(
        called_at=called_at, endpoint=response.path if response else ENERGYDATA_PATH,
        trans_id=response.request.trans_id if response else None, http_status=response.status if response else None,
        attempts=attempts, request_redacted=request, raw_file_id=raw_file_id, correlation_id=run_id,
        esiid=esiid, error=error).returning(smt_api_call.c.id)).scalar_one()


def _capture(conn: sa.Connection, store: RawStore, response: SmtResponse, filename: str) -> Captured:
    """The answer's bytes in the raw store and their raw_file row; a non-2xx answer is ``failed`` with
    its status in ``error`` from the start (there is nothing to parse)."""
    sha, size, uri = store.put_stream(io.BytesIO(response.content))
    kind = detect_kind(response.content[:HEAD_BYTES], filename) if response.ok else SMT_API_ERROR_KIND
    captured = register(conn, sha=sha, size=size, uri=uri, filename=filename, source=SMT_API_SOURCE, kind=kind)
    if captured.new and not response.ok:
        conn.execute(sa.update(raw_file).where(raw_file.c.id == captured.raw_file_id).values(
            status="failed", error=http_error(response)))
    return captured


def http_error(response: SmtResponse) -> str:
    """``HTTP 404 from SMT /v2/energydata/: <excerpt>`` (the excerpt holds no secret or raw ESIID)."""
    return f"HTTP {response.status} from SMT {response.path}: {excerpt(response.content, 200)}"


def store_energydata(engine: sa.Engine, store: RawStore, *, esiid: str, window: Window,
                     response: SmtResponse | None, called_at: dt.datetime, run_id: str | None = None,
                     no_answer: str | None = None, attempts: int = 1, reading_window=None, **rules) -> CallResult:
    """Store one ``/v2/energydata/`` call: its answer as a raw file and its audit row, then its rows
    (``reading_window`` and ``rules``: ``normalize_raw_file``'s ``window`` and others). ``response`` None means no answer came (``no_answer`` says
    why): only the audit row is written."""
    if response is None:
        error = no_answer or "no answer"
        with engine.begin() as conn:
            _audit(conn, called_at=called_at, esiid=esiid, run_id=run_id, request=unanswered_request(esiid, window),
                   response=None, raw_file_id=None, error=error, attempts=attempts)
        return CallResult(esiid, window, None, error=error)
    filename = energydata_filename(esiid, window, response.request.trans_id)
    error = None if response.ok else http_error(response)
    with engine.begin() as conn:
        captured = _capture(conn, store, response, filename)
        call_id = _audit(conn, called_at=called_at, esiid=esiid, run_id=run_id,
                         request=response.request.as_json().decode(), response=response,
                         raw_file_id=captured.raw_file_id, error=error, attempts=response.attempts)
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
        with engine.begin() as conn:
            conn.execute(sa.update(smt_api_call).where(smt_api_call.c.id == call_id).values(error=error))
    return CallResult(esiid, window, response.status, captured.raw_file_id, captured.new, rows, error)
