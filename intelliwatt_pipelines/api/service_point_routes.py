"""Address search (vendor-apis.md §2.6): ``GET /api/v1/service-points/search`` -> premises ERCOT lists.

A consumer route (``x-api-key``): it answers with ESIIDs. What the customer typed is personal: it is never
logged; the request log line carries only a salted hash of its normalized form (``q_hash``), so repeated
searches for one address can be told apart from many addresses without knowing any of them.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from intelliwatt_pipelines.address import normalize_line
from intelliwatt_pipelines.api.auth import require_consumer
from intelliwatt_pipelines.api.routing import ERRORS, accepts_json, render
from intelliwatt_pipelines.cdm import service_point_search
from intelliwatt_pipelines.cdm.fields.reference import SP_STATUSES
from intelliwatt_pipelines.config import current

router = APIRouter(prefix="/api/v1/service-points", dependencies=[Depends(require_consumer), Depends(accepts_json)],
                   responses=ERRORS, tags=["service points"])


class Candidate(BaseModel):
    """A premise ERCOT lists (a ``service_point`` row), as listed."""

    esiid: str
    tdsp: str = Field(description="The utility (TDSP) code, e.g. CENTERPOINT.")
    address: str
    address_overflow: str | None
    city: str | None
    state: str | None
    zip: str | None = Field(description="5-digit ZIP code.")
    premise_type: str | None
    status: Literal[tuple(SP_STATUSES)]
    score: float = Field(description="Trigram similarity of the normalized address to the query (PostgreSQL), or "
                                     "the token score of the SQLite fallback; 0-1, higher is closer.")


class SearchResults(BaseModel):
    results: list[Candidate] = Field(description="Not-Inactive premises first, then by score, then by ESIID.")
    corrId: str


def query_hash(q: str) -> str:
    """How a log line names a query: a salted SHA-256 of its normalized text, cut to 12 hex digits."""
    digest = hashlib.sha256(f"{current('log_salt')}:address:{normalize_line(q)}".encode()).hexdigest()
    return f"q#{digest[:12]}"


@router.get("/search", response_model=SearchResults)
def search(request: Request,
           q: Annotated[str, Query(min_length=3, max_length=200, description=(
               "The street address as typed, e.g. `206 Boxwood Drive`; normalized like ERCOT's addresses "
               "(upper case, USPS suffixes), misspellings tolerated."))],
           zip: Annotated[str | None, Query(pattern=r"^[0-9]{5}$", description="Only this 5-digit ZIP code.")] = None,
           limit: Annotated[int, Query(ge=1, le=50, description="Most candidates returned.")] = 10):
    """Premises whose street address is like ``q``, best first."""
    request.state.log_fields = {"q_hash": query_hash(q)}  # observability.RequestLog adds it to the line
    # The transactional engine: the similarity threshold is SET LOCAL (see cdm.service_point_search).
    with request.app.state.engine.connect() as conn:
        results = service_point_search.search(conn, q, zip5=zip, limit=limit)
    return render({"results": results}, request)
