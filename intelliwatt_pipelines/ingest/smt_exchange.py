"""One SMT lifecycle call, stored: the call is made, its answer (or the reason none came) recorded as a
raw file and an audit row (``smt_calls``), and the caller gets the answer with where it went. Used by
the agreement, subscription and backfill steps (``smt_agreements``, ``smt_backfills``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.vendor import SMT_API_ANSWER_KIND
from intelliwatt_pipelines.ingest.smt_calls import Recorded, record_answer, record_no_answer, settle
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.smt.client import SmtUnavailable
from intelliwatt_pipelines.vendors.smt.requests import SmtResponse


class SmtStepError(RuntimeError):
    """A lifecycle step failed; the message names the call and why, with no secret or raw ESIID."""


@dataclass(frozen=True)
class Exchange:
    """An answered call: the answer and where it is stored (``recorded.error`` set when not 2xx)."""

    response: SmtResponse
    recorded: Recorded

    @property
    def raw_file_id(self) -> int:
        return self.recorded.captured.raw_file_id

    def settle(self, engine: sa.Engine, error: str | None = None) -> None:
        settle(engine, self.raw_file_id, error=error)


@dataclass(frozen=True)
class Caller:
    """What every stored call needs: the warehouse, the raw store and the run making the calls."""

    engine: sa.Engine
    store: RawStore
    run_id: str | None = None

    def call(self, name: str, path: str, send: Callable[[], SmtResponse], *, esiid: str | None = None,
             correlation_of: Callable[[SmtResponse], str | None] | None = None) -> Exchange:
        """Make one call to ``path`` (``send``) and store its answer as
        ``smt_<name>_<esiid|csp>_<trans_id>.json``; raises SmtStepError when no answer came (its audit
        row is written first)."""
        called_at = dt.datetime.now(dt.timezone.utc)
        try:
            response = send()
        except SmtUnavailable as exc:
            if exc.response is None:
                record_no_answer(self.engine, endpoint=path, request={"esiid": mask(esiid) if esiid else None},
                                 esiid=esiid, run_id=self.run_id, called_at=called_at, error=str(exc),
                                 attempts=1)
                raise SmtStepError(str(exc)) from None
            response = exc.response
        correlation = correlation_of(response) if correlation_of and response.ok else None
        filename = f"smt_{name}_{esiid or 'csp'}_{response.request.trans_id or 'none'}.json"
        recorded = record_answer(self.engine, self.store, response, filename=filename, esiid=esiid,
                                 run_id=self.run_id, called_at=called_at, correlation_id=correlation,
                                 kind=SMT_API_ANSWER_KIND)
        return Exchange(response, recorded)
