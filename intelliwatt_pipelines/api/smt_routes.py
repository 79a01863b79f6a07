"""Admin routes over the SMT API bookkeeping (vendor-apis.md §2.2–2.3) and the feature flags (§2.4).

Read only: mutations stay in the Dagster jobs and the CLI. Like the other admin views, rows show
ESIIDs as stored; the customer's encrypted e-mail is never sent (``cdm.smt_reads``). Lists are newest
first and page with an opaque cursor, as the usage routes do.
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request

from intelliwatt_pipelines.api import smt_models
from intelliwatt_pipelines.api.auth import require_admin
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.routing import ERRORS, MAX_ID, Esiid, PageCursor, accepts_json, render, valid_esiid
from intelliwatt_pipelines.cdm import smt_reads
from intelliwatt_pipelines.cdm.fields.vendor import AGREEMENT_STATUSES, BACKFILL_STATUSES
from intelliwatt_pipelines.config import FLAGS, env_name, flags

router = APIRouter(prefix="/api/v1/admin", dependencies=[Depends(require_admin), Depends(accepts_json)],
                   responses=ERRORS, tags=["admin"])

EsiidFilter = Annotated[str | None, Query(max_length=22, description="Only this ESI ID (17 or 22 digits).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
# SMT paths look like /v2/energydata/: anything else cannot match, and a NUL byte would reach PostgreSQL.
Endpoint = Annotated[str | None, Query(max_length=100, pattern=r"^/[A-Za-z0-9/_.-]*$",
                                       description="Only calls of this SMT path, e.g. /v2/energydata/.")]


def encode_cursor(kind: str, last_id: int) -> str:
    """Where a page of ``kind`` rows ended: base64 (URL-safe) of the JSON ``[kind, last_id]``."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, last_id])).decode().rstrip("=")


def decode_cursor(kind: str, text: str | None) -> int | None:
    """The id a page of ``kind`` continues after; 422 for anything this route did not return."""
    if not text:
        return None
    try:
        got, last_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if got != kind or type(last_id) is not int or not 1 <= last_id <= MAX_ID:
            raise ValueError
        return last_id
    except Exception:  # undecodable, the wrong shape, or another list's cursor
        raise ApiError(422, "invalid_parameter", "cursor: not a cursor this API returned") from None


def _page(request: Request, kind: str, query, esiid: str | None, cursor: str | None, limit: int, **filters):
    """Run one paged list query and render ``{kind: rows, count, next_cursor}``."""
    if esiid is not None:
        valid_esiid(esiid)
    after_id = decode_cursor(kind, cursor)
    with request.app.state.read_engine.connect() as conn:
        rows, nxt = query(conn, esiid=esiid, after_id=after_id, limit=limit, **filters)
    return render({"count": len(rows), kind: rows, "next_cursor": encode_cursor(kind, nxt) if nxt else None},
                  request)


@router.get("/smt/agreements", response_model=smt_models.AgreementPage)
def agreements(request: Request, esiid: EsiidFilter = None,
               status: Annotated[Literal[tuple(AGREEMENT_STATUSES)] | None, Query(
                   description="Only agreements in this smt_status.")] = None,
               cursor: PageCursor = None, limit: Limit = 100):
    """SMT agreements (smt_authorization), newest first."""
    return _page(request, "agreements", smt_reads.list_authorizations, esiid, cursor, limit, status=status)


@router.get("/smt/backfills", response_model=smt_models.BackfillPage)
def backfills(request: Request, esiid: EsiidFilter = None,
              status: Annotated[Literal[tuple(BACKFILL_STATUSES)] | None, Query(
                  description="Only requests in this status.")] = None,
              cursor: PageCursor = None, limit: Limit = 100):
    """Historical interval requests (smt_backfill_request), newest first."""
    return _page(request, "backfills", smt_reads.list_backfills, esiid, cursor, limit, status=status)


@router.get("/smt/meters/{esiid}", response_model=smt_models.Meters)
def meters(request: Request, esiid: Esiid):
    """What SMT's meterInfo told about the ESIID's meters (smt_meter_info); 404 when nothing."""
    valid_esiid(esiid)
    with request.app.state.read_engine.connect() as conn:
        rows = smt_reads.meter_info_for(conn, esiid)
    if not rows:
        raise ApiError(404, "not_found", "no SMT meter info is stored for this ESIID")
    return render({"esiid": esiid, "meters": rows}, request)


@router.get("/smt/calls", response_model=smt_models.ApiCallPage)
def calls(request: Request, esiid: EsiidFilter = None, endpoint: Endpoint = None, cursor: PageCursor = None,
          limit: Limit = 100):
    """The SMT API call audit trail (smt_api_call), newest first."""
    return _page(request, "calls", smt_reads.recent_calls, esiid, cursor, limit, endpoint=endpoint)


@router.get("/flags", response_model=smt_models.Flags)
def feature_flags(request: Request):
    """Each feature flag as this API process's settings have it, and what it turns on."""
    enabled = flags(request.app.state.settings)
    return render({"flags": [{"name": env_name(field), "enabled": enabled[env_name(field)], "controls": controls}
                             for field, controls in FLAGS.items()]}, request)
