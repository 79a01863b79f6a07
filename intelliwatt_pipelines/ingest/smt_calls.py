"""Every SMT API answer as a raw file with its audit row (vendor-apis.md §2.1): the answer's bytes,
verbatim and whatever its status, go to the raw store with ``source=smt_api`` before anything reads
them, and one ``smt_api_call`` row records the call (endpoint, trans_id, status, redacted request, raw
file, correlation id, run). Lineage: API call -> raw file -> rows. A non-2xx answer is kind
``smt_api_error``, status ``failed``, the HTTP status in ``raw_file.error``. The same bytes again (a
re-run) are one raw file: nothing new is written but the audit row of the new call.

Every SMT job stores its calls through here: usage pulls (``smt_api``), agreements, subscriptions,
backfills and meter info (``smt_lifecycle``).
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
from intelliwatt_pipelines.kinds import HEAD_BYTES, detect_kind
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.smt.requests import SmtResponse, excerpt


@dataclass(frozen=True)
class Recorded:
    """Where one call's answer went: its raw file (``captured``) and its audit row (``call_id``);
    ``error`` is the HTTP error of a non-2xx answer, None for 2xx."""

    captured: Captured
    call_id: int
    error: str | None


def http_error(response: SmtResponse) -> str:
    """``HTTP 404 from SMT /v2/energydata/: <excerpt>`` (the excerpt holds no secret or raw ESIID)."""
    return f"HTTP {response.status} from SMT {response.path}: {excerpt(response.content, 200)}"


def _capture(conn: sa.Connection, store: RawStore, response: SmtResponse, filename: str,
             kind: str | None) -> Captured:
    """The answer's bytes in the raw store and their raw_file row; a non-2xx answer is ``failed`` with
    its status in ``error`` from the start (there is nothing to parse). ``kind`` None: detected."""
    sha, size, uri = store.put_stream(io.BytesIO(response.content))
    if not response.ok:
        kind = SMT_API_ERROR_KIND
    elif kind is None:
        kind = detect_kind(response.content[:HEAD_BYTES], filename)
    captured = register(conn, sha=sha, size=size, uri=uri, filename=filename, source=SMT_API_SOURCE, kind=kind)
    if captured.new and not response.ok:
        conn.execute(sa.update(raw_file).where(raw_file.c.id == captured.raw_file_id).values(
            status="failed", error=http_error(response)))
    return captured


def audit(conn: sa.Connection, *, called_at: dt.datetime, endpoint: str, request: str, esiid: str | None,
          run_id: str | None, response: SmtResponse | None = None, raw_file_id: int | None = None,
          error: str | None = None, attempts: int = 1, correlation_id: str | None = None) -> int:
    """One ``smt_api_call`` row; its id."""
    return conn.execute(sa.insert(smt_api_call).values(
        called_at=called_at, endpoint=endpoint, trans_id=response.request.trans_id if response else None,
        http_status=response.status if response else None, attempts=attempts, request_redacted=request,
        raw_file_id=raw_file_id, correlation_id=correlation_id, run_id=run_id, esiid=esiid,
        error=error).returning(smt_api_call.c.id)).scalar_one()


def record_answer(engine: sa.Engine, store: RawStore, response: SmtResponse, *, filename: str,
                  esiid: str | None, run_id: str | None, called_at: dt.datetime,
                  correlation_id: str | None = None, kind: str | None = None) -> Recorded:
    """Store one answer (bytes, raw_file row, audit row) in one transaction; ``kind`` None detects it
    (usage and meter data), else it is given (``smt_api_answer``: agreements, subscriptions, backfills)."""
    error = None if response.ok else http_error(response)
    with engine.begin() as conn:
        captured = _capture(conn, store, response, filename, kind)
        call_id = audit(conn, called_at=called_at, endpoint=response.path, request=response.request.as_json().decode(),
                        esiid=esiid, run_id=run_id, response=response, raw_file_id=captured.raw_file_id,
                        error=error, attempts=response.attempts, correlation_id=correlation_id)
    return Recorded(captured, call_id, error)


def record_no_answer(engine: sa.Engine, *, endpoint: str, request: dict, esiid: str | None, run_id: str | None,
                     called_at: dt.datetime, error: str, attempts: int) -> int:
    """The audit row of a call that got no answer (timeouts, network errors): what it asked (``request``,
    already redacted) and why nothing came; its id."""
    with engine.begin() as conn:
        return audit(conn, called_at=called_at, endpoint=endpoint, esiid=esiid, run_id=run_id, error=error,
                     attempts=attempts, request=json.dumps({"method": "POST", "path": endpoint, "body": request},
                                                           sort_keys=True))


def set_call_error(engine: sa.Engine, call_id: int, error: str) -> None:
    """A 2xx answer that still failed (its rows could not be stored, say): the reason on its audit row."""
    with engine.begin() as conn:
        conn.execute(sa.update(smt_api_call).where(smt_api_call.c.id == call_id).values(error=error))


def settle(engine: sa.Engine, raw_file_id: int, *, error: str | None = None) -> None:
    """A lifecycle answer once applied: ``normalized`` (what it says is stored), or ``failed`` with why it
    could not be read. Only a ``received`` file changes (an answer stored before keeps its outcome)."""
    with engine.begin() as conn:
        conn.execute(sa.update(raw_file).where(raw_file.c.id == raw_file_id, raw_file.c.status == "received").values(
            status="failed" if error else "normalized", error=error, normalized_at=dt.datetime.now(dt.timezone.utc)))
