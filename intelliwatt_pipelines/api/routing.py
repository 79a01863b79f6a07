"""What the route modules share: parameter types, response declarations, content negotiation and
rendering (JSON with orjson: UTC instants end in ``Z``)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import Path, Query, Request
from starlette.responses import Response

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.api import models
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.negotiation import MediaType, choose
from intelliwatt_pipelines.api.timeparams import check_window, parse_instant
from intelliwatt_pipelines.bounds import METER_RE

PAGE_DEFAULT, PAGE_MAX = 5000, 20000
DAYS_DEFAULT, DAYS_MAX = 1000, 5000  # completeness rows (about 200 bytes each): at most 1 MB a page
MAX_ID = 2**63 - 1
NOT_ACCEPTABLE = {406: {"model": models.Error}}
# Every route that reads the warehouse may answer 503 (app.py: a connection lost mid-request; retry).
WAREHOUSE_LOST = {503: {"model": models.Error, "description": "The warehouse connection was lost; retry "
                                                                "after the Retry-After header's seconds."}}
ERRORS = {401: {"model": models.Error}, 404: {"model": models.Error}, **NOT_ACCEPTABLE,
          422: {"model": models.Error}, **WAREHOUSE_LOST}
UPLOAD_ERRORS = {**ERRORS, 409: {"model": models.Error}, 413: {"model": models.Error}, 429: {"model": models.Error}}
Esiid = Annotated[str, Path(description="ESI ID, 17 or 22 digits.", examples=["10443720000000001"])]
Meter = Annotated[str | None, Query(pattern=METER_RE.pattern, description="Only this meter.")]
Channel = Annotated[Literal["consumption", "generation"] | None, Query(description="Only this channel.")]
Instant = Annotated[str | None, Query(description="ISO-8601; without an offset it is America/Chicago time; a "
                                                  "bare date is that local day (whole day when used as end).")]
PageCursor = Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page.")]
JSON = MediaType("application", "json", (("charset", "utf-8"),))
CSV = MediaType("text", "csv", (("charset", "utf-8"), ("header", "present")))
VARY = {"Vary": "Accept"}  # a cache must not answer a CSV request with a cached JSON page


def negotiate(request: Request, offers: tuple[MediaType, ...]) -> MediaType:
    """The representation the request's Accept prefers among ``offers``; 406 when it accepts none."""
    values = request.headers.getlist("accept")
    chosen = choose(", ".join(values) if values else None, offers)
    if chosen is None:
        names = " or ".join(f"{o.type}/{o.subtype}" for o in offers)
        raise ApiError(406, "not_acceptable", f"Accept: nothing acceptable; this route sends {names}")
    return chosen


def accepts_json(request: Request) -> None:
    """Dependency of every JSON-only route."""
    negotiate(request, (JSON,))


def render(payload: dict, request: Request, status: int = 200) -> Response:
    payload["corrId"] = request.state.corr_id
    return Response(orjson.dumps(payload, option=orjson.OPT_UTC_Z), status_code=status,
                    media_type="application/json")


def valid_esiid(esiid: str, name: str = "esiid") -> str:
    """A service point id by the market's rule (Texas: an ESIID of 17 or 22 digits); 422 otherwise."""
    market = markets.active()
    if not market.identity.match(esiid):
        raise ApiError(422, "invalid_parameter", f"{name}: must be {market.identity_rule}")
    return esiid


def esiid_window(esiid: str, start: str | None, end: str | None):
    """A checked ESIID and [start, end) window from query values (422 with a reason otherwise)."""
    valid_esiid(esiid)
    lo, hi = parse_instant(start, "start"), parse_instant(end, "end", end=True)
    check_window(lo, hi)
    return lo, hi
