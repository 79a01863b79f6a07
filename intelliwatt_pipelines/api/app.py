"""The FastAPI app: versioned read routes over the canonical tables, admin views, the upload relay.

Handlers are thin: parameters are checked here (types and rendering shared in ``routing``), queries
live in ``reads`` and ``billing``, the upload routes in ``upload_routes``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Match

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.api import billing, models, reads
from intelliwatt_pipelines.api.auth import require_admin, require_consumer
from intelliwatt_pipelines.api.cursors import Cursor, DayCursor
from intelliwatt_pipelines.api.docs import add_docs
from intelliwatt_pipelines.api.errors import ApiError, error_response, friendly_validation
from intelliwatt_pipelines.api.meter_routes import router as meter_router
from intelliwatt_pipelines.api.observability import RequestLog
from intelliwatt_pipelines.api.picture_routes import router as picture_router
from intelliwatt_pipelines.api.plan_routes import router as plan_router
from intelliwatt_pipelines.api.readings_routes import router as readings_router
from intelliwatt_pipelines.api.render import series_json
from intelliwatt_pipelines.api.routing import (
    CSV,
    DAYS_DEFAULT,
    DAYS_MAX,
    ERRORS,
    JSON,
    MAX_ID,
    NOT_ACCEPTABLE,
    PAGE_DEFAULT,
    PAGE_MAX,
    VARY,
    Channel,
    Esiid,
    Instant,
    Meter,
    PageCursor,
    accepts_json,
    esiid_window,
    negotiate,
    render,
    valid_esiid,
)
from intelliwatt_pipelines.api.service_point_routes import router as service_point_router
from intelliwatt_pipelines.api.smt_routes import router as smt_router
from intelliwatt_pipelines.api.tariff_routes import router as tariff_router
from intelliwatt_pipelines.api.timeparams import parse_day
from intelliwatt_pipelines.api.upload_routes import upload_routes
from intelliwatt_pipelines.cdm.tables import RAW_STATUSES
from intelliwatt_pipelines.cdm.uploads import HintConflict, RateLimited
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.rawstore import open_raw_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    # No automatic slash redirects: Starlette builds them from the Host header, which the client
    # picks (an open redirect). _slash_redirect uses the configured public base URL instead.
    app = FastAPI(title="IntelliWatt Pipelines API", version="1.0.0", redirect_slashes=False,
                  docs_url=None, redoc_url=None,  # add_docs serves both pages from local assets
                  description="Canonical smart-meter usage, read only through these versioned routes; "
                              "and the upload relay for SMT files.")
    app.state.settings = settings
    # No pre-ping (a round trip on every request): a connection found dead mid-request is a 503
    # (see _handlers), and SQLAlchemy then replaces the whole pool.
    app.state.engine = create_engine(settings.warehouse_url, pre_ping=False)
    # Read routes only read: autocommit saves the BEGIN and ROLLBACK round trips of every request.
    app.state.read_engine = create_engine(settings.warehouse_url, pre_ping=False, autocommit=True)
    app.state.store = open_raw_store(settings.raw_store_url)
    app.add_middleware(RequestLog)
    _handlers(app)
    _health_route(app)
    _interval_routes(app)
    _day_routes(app)
    _billing_routes(app)
    _admin_routes(app)
    upload_routes(app)
    add_docs(app)
    app.include_router(picture_router)  # pictures and the status page (for browsers)
    app.include_router(smt_router)  # SMT agreements, backfills, meters, API calls; the flags
    app.include_router(service_point_router)  # address search over ERCOT's premises
    app.include_router(tariff_router)  # TDU delivery charges as of a day
    app.include_router(plan_router)  # a home's plan estimates: list, detail, chart
    if settings.market != markets.DEFAULT_MARKET:  # 1PWR's routes, in its markets only
        app.include_router(meter_router)  # meter roles, check meters against the primary per day
        app.include_router(readings_router)  # IoT readings pushed one at a time, spooled per meter-hour
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        request.state.error_class = exc.code
        return error_response(exc.status, exc.code, exc.message, request.state.corr_id, exc.headers)

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited):
        request.state.error_class = "rate_limited"
        return error_response(429, "rate_limited", f"{exc}; try again in {exc.retry_after} s",
                              request.state.corr_id, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(HintConflict)
    async def hint_conflict(request: Request, exc: HintConflict):
        request.state.error_class = "conflict"
        return error_response(409, "conflict", str(exc), request.state.corr_id)

    @app.exception_handler(sa.exc.DBAPIError)
    async def database_error(request: Request, exc: sa.exc.DBAPIError):
        if not exc.connection_invalidated:
            raise exc  # a real defect: the request log records it as a 500
        request.state.error_class = "warehouse_unavailable"
        return error_response(503, "warehouse_unavailable", "the warehouse connection was lost; retry",
                              request.state.corr_id, {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        request.state.error_class = "invalid_parameter"
        return error_response(422, "invalid_parameter", friendly_validation(exc.errors()), request.state.corr_id)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and (redirect := _slash_redirect(request)):
            return redirect
        request.state.error_class = f"http_{exc.status_code}"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), request.state.corr_id, exc.headers)


def _slash_redirect(request: Request) -> Response | None:
    """307 from ``…/route/`` to ``…/route`` under ``public_base_url`` when that route exists; None
    without a configured base URL (the request is then a 404)."""
    base = request.app.state.settings.public_base_url.rstrip("/")
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    if not base or raw == b"/" or not raw.endswith(b"/"):
        return None
    scope = {**request.scope, "path": request.scope["path"].rstrip("/")}
    if all(route.matches(scope)[0] == Match.NONE for route in request.app.router.routes):
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return RedirectResponse(base + raw.decode("latin-1").rstrip("/") + (f"?{query}" if query else ""), 307)


def _health_route(app: FastAPI) -> None:
    engine = app.state.read_engine

    @app.get("/api/v1/health", response_model=models.Health, responses={**NOT_ACCEPTABLE, 503: {
        "model": models.Health, "description": "The warehouse cannot be reached (ok and db false)."}},
             dependencies=[Depends(accepts_json)], tags=["health"])
    def health(request: Request):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            db = True
        except Exception:
            db = False
        return render({"ok": db, "db": db}, request, 200 if db else 503)


def _interval_routes(app: FastAPI) -> None:
    engine = app.state.read_engine

    @app.get("/api/v1/esiids/{esiid}/intervals", response_model=models.IntervalPage, responses={
        **ERRORS, 200: {"content": {"text/csv": {}}, "description": "JSON page, or the whole window as CSV"}},
        dependencies=[Depends(require_consumer)], tags=["usage"])
    def intervals(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None,
                  channel: Channel = None, meter: Meter = None,
                  limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size (JSON).")] = PAGE_DEFAULT,
                  cursor: PageCursor = None,
                  format: Annotated[Literal["json", "csv"] | None, Query(
                      description="csv streams the whole window. Takes precedence over Accept, which "
                                  "otherwise chooses (q-values; JSON when both are equally acceptable).")] = None):
        """Stored intervals in [start, end), ordered by meter, channel and time."""
        lo, hi = esiid_window(esiid, start, end)
        after = Cursor.decode(cursor) if cursor else None
        as_csv = format == "csv" if format else negotiate(request, (JSON, CSV)) == CSV
        with engine.connect() as conn:
            wanted = reads.series(conn, esiid, meter, channel)
            if as_csv:
                return StreamingResponse(reads.stream_interval_csv(engine, esiid, wanted, lo, hi),
                                         media_type="text/csv; charset=utf-8", headers=VARY)
            page, nxt = reads.interval_page(conn, esiid, wanted, lo, hi, limit, after)
        body = {"start": lo, "end": hi, "timezone": markets.local_tz(), "count": sum(len(s) for s in page),
                "series": [series_json(s) for s in page], "next_cursor": nxt.encode() if nxt else None,
                "corrId": request.state.corr_id}
        # Arrays of instants are numpy datetime64 (naive UTC): orjson writes them as ISO-8601 with Z.
        return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC),
                        media_type="application/json", headers=VARY)


def _day_routes(app: FastAPI) -> None:
    engine = app.state.read_engine
    consumer = [Depends(require_consumer), Depends(accepts_json)]

    @app.get("/api/v1/esiids/{esiid}/daily-completeness", response_model=models.Completeness,
             responses=ERRORS, dependencies=consumer, tags=["usage"])
    def completeness(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None,
                     channel: Channel = None, meter: Meter = None,
                     limit: Annotated[int, Query(ge=1, le=DAYS_MAX, description="Page size (days).")] = DAYS_DEFAULT,
                     cursor: PageCursor = None):
        """One row per (meter, channel, local day) in [start, end], both days included, ordered by
        meter, channel and day; paged like intervals."""
        valid_esiid(esiid)
        first, last = parse_day(start, "start"), parse_day(end, "end")
        if first and last and last < first:
            raise ApiError(422, "invalid_parameter", "end must not be before start")
        after = DayCursor.decode(cursor) if cursor else None
        with engine.connect() as conn:
            wanted = reads.series(conn, esiid, meter, channel)
            days, nxt = reads.completeness_page(conn, esiid, wanted, first, last, limit, after)
        return render({"start": first, "end": last, "count": len(days), "days": days,
                       "next_cursor": nxt.encode() if nxt else None}, request)

    @app.get("/api/v1/esiids/{esiid}/summary", response_model=models.Summary, responses=ERRORS,
             dependencies=consumer, tags=["usage"])
    def summary(request: Request, esiid: Esiid):
        """First and last interval, totals, and days complete vs incomplete, per series and overall."""
        valid_esiid(esiid)
        with engine.connect() as conn:
            return render(reads.summary(conn, esiid), request)


def _billing_routes(app: FastAPI) -> None:
    engine = app.state.read_engine
    consumer = [Depends(require_consumer), Depends(accepts_json)]

    def periods(esiid: str, start: str | None, end: str | None, query) -> tuple:
        """The checked window and what ``query`` reads in it; 404 for an ESIID with nothing stored."""
        lo, hi = esiid_window(esiid, start, end)
        with engine.connect() as conn:
            billing.known_esiid(conn, esiid)
            return lo, hi, query(conn, esiid, lo, hi)

    @app.get("/api/v1/esiids/{esiid}/billing-reads", response_model=models.BillingReads, responses=ERRORS,
             dependencies=consumer, tags=["billing"])
    def billing_reads(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None):
        """Meter reads (daily and monthly) whose period overlaps [start, end), by end of period."""
        lo, hi, rows = periods(esiid, start, end, billing.billing_reads)
        return render({"start": lo, "end": hi, "reads": rows}, request)

    @app.get("/api/v1/esiids/{esiid}/reconciliation", response_model=models.Reconciliation, responses=ERRORS,
             dependencies=consumer, tags=["billing"])
    def reconciliation(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None):
        """Each billing read whose period overlaps [start, end) against the intervals of the same window."""
        lo, hi, rows = periods(esiid, start, end, billing.reconciliation)
        counts = {s: sum(r["status"] == s for r in rows) for s in ("match", "mismatch", "insufficient_intervals")}
        return render({"start": lo, "end": hi, "counts": counts, "reads": rows}, request)


def _admin_routes(app: FastAPI) -> None:
    engine = app.state.read_engine
    admin = [Depends(require_admin), Depends(accepts_json)]

    @app.get("/api/v1/admin/raw-files", response_model=models.RawFileList, responses=ERRORS,
             dependencies=admin, tags=["admin"])
    def raw_files(request: Request, status: Annotated[Literal[RAW_STATUSES] | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  before_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Page: ids below this.")] = None):
        """Raw files, newest first."""
        with engine.connect() as conn:
            return render({"raw_files": reads.raw_files(conn, status, limit, before_id)}, request)

    @app.get("/api/v1/admin/raw-files/{raw_file_id}", response_model=models.RawFileDetail, responses=ERRORS,
             dependencies=admin, tags=["admin"])
    def raw_file(request: Request, raw_file_id: Annotated[int, Path(ge=1, le=MAX_ID)]):
        """One raw file with its coverage (ESIID, meter, channel, days), package members and uploads."""
        with engine.connect() as conn:
            return render(reads.raw_file_detail(conn, raw_file_id), request)
