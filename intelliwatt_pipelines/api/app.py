"""The FastAPI app: versioned read routes over the canonical tables, admin views, the upload relay.

Handlers are thin: parameters are checked here, queries live in ``reads``, uploads in ``relay``
and ``ingest.uploads``. JSON is rendered with orjson (UTC instants end in ``Z``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Match

from intelliwatt_pipelines.api import models, reads
from intelliwatt_pipelines.api.auth import is_admin, require_admin, require_consumer
from intelliwatt_pipelines.api.docs import add_docs
from intelliwatt_pipelines.api.errors import ApiError, error_response, friendly_validation
from intelliwatt_pipelines.api.negotiation import MediaType, choose
from intelliwatt_pipelines.api.observability import RequestLog
from intelliwatt_pipelines.api.picture_routes import router as picture_router
from intelliwatt_pipelines.api.render import series_json
from intelliwatt_pipelines.api.relay import (
    decode_inline,
    keep_inline,
    parse_inline,
    read_bounded,
    receive_multipart,
    upload_status_for,
)
from intelliwatt_pipelines.api.timeparams import check_window, parse_day, parse_instant
from intelliwatt_pipelines.bounds import METER_RE
from intelliwatt_pipelines.cdm.tables import RAW_STATUSES
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines.config import CENTRAL_TZ, Settings
from intelliwatt_pipelines.esiid import ESIID_RE
from intelliwatt_pipelines.ingest.uploads import HintConflict, RateLimited, UploadLimits, accept_upload
from intelliwatt_pipelines.rawstore import open_raw_store

PAGE_DEFAULT, PAGE_MAX = 5000, 20000
DAYS_DEFAULT, DAYS_MAX = 1000, 5000  # completeness rows (about 200 bytes each): at most 1 MB a page
MAX_ID = 2**63 - 1
NOT_ACCEPTABLE = {406: {"model": models.Error}}
ERRORS = {401: {"model": models.Error}, 404: {"model": models.Error}, **NOT_ACCEPTABLE,
          422: {"model": models.Error}}
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


def valid_esiid(esiid: str) -> str:
    if not ESIID_RE.match(esiid):
        raise ApiError(422, "invalid_parameter", "esiid: must be 17 or 22 digits")
    return esiid


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
    _read_routes(app)
    _billing_routes(app)
    _admin_routes(app)
    _upload_routes(app)
    add_docs(app)
    app.include_router(picture_router)  # pictures and the status page (for browsers)
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


def _read_routes(app: FastAPI) -> None:
    engine = app.state.read_engine
    consumer = [Depends(require_consumer), Depends(accepts_json)]

    @app.get("/api/v1/health", response_model=models.Health, responses=NOT_ACCEPTABLE,
             dependencies=[Depends(accepts_json)], tags=["health"])
    def health(request: Request):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            db = True
        except Exception:
            db = False
        return render({"ok": db, "db": db}, request, 200 if db else 503)

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
        lo, hi = _esiid_window(esiid, start, end)
        after = reads.Cursor.decode(cursor) if cursor else None
        as_csv = format == "csv" if format else negotiate(request, (JSON, CSV)) == CSV
        with engine.connect() as conn:
            wanted = reads.series(conn, esiid, meter, channel)
            if as_csv:
                return StreamingResponse(reads.stream_interval_csv(engine, esiid, wanted, lo, hi),
                                         media_type="text/csv; charset=utf-8", headers=VARY)
            page, nxt = reads.interval_page(conn, esiid, wanted, lo, hi, limit, after)
        body = {"start": lo, "end": hi, "timezone": CENTRAL_TZ, "count": sum(len(s) for s in page),
                "series": [series_json(s) for s in page], "next_cursor": nxt.encode() if nxt else None,
                "corrId": request.state.corr_id}
        # Arrays of instants are numpy datetime64 (naive UTC): orjson writes them as ISO-8601 with Z.
        return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC),
                        media_type="application/json", headers=VARY)

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
        after = reads.DayCursor.decode(cursor) if cursor else None
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


def _esiid_window(esiid: str, start: str | None, end: str | None):
    """A checked ESIID and [start, end) window from query values (422 with a reason otherwise)."""
    valid_esiid(esiid)
    lo, hi = parse_instant(start, "start"), parse_instant(end, "end", end=True)
    check_window(lo, hi)
    return lo, hi


def _billing_routes(app: FastAPI) -> None:
    engine = app.state.read_engine
    consumer = [Depends(require_consumer), Depends(accepts_json)]

    @app.get("/api/v1/esiids/{esiid}/billing-reads", response_model=models.BillingReads, responses=ERRORS,
             dependencies=consumer, tags=["billing"])
    def billing_reads(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None):
        """Meter reads (daily and monthly) whose period overlaps [start, end), by end of period."""
        lo, hi = _esiid_window(esiid, start, end)
        with engine.connect() as conn:
            reads.known_esiid(conn, esiid)
            return render({"start": lo, "end": hi, "reads": reads.billing_reads(conn, esiid, lo, hi)}, request)

    @app.get("/api/v1/esiids/{esiid}/reconciliation", response_model=models.Reconciliation, responses=ERRORS,
             dependencies=consumer, tags=["billing"])
    def reconciliation(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None):
        """Each billing read whose period overlaps [start, end) against the intervals of the same window."""
        lo, hi = _esiid_window(esiid, start, end)
        with engine.connect() as conn:
            reads.known_esiid(conn, esiid)
            rows = reads.reconciliation(conn, esiid, lo, hi)
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


MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "role", "accountKey"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "role": {"type": "string", "enum": ["admin", "customer"]},
        "accountKey": {"type": "string", "maxLength": 200},
        "esiid": {"type": "string", "description": "For files that name no ESIID."},
        "meter": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$",
                   "description": "Optional: the file's SHA-256; the upload is refused if the bytes differ. "
                                  "Sent before the file, it lets a renamed repeat through at the upload limit."}}}}}}}


def _upload_routes(app: FastAPI) -> None:
    settings, engine, store = app.state.settings, app.state.engine, app.state.store
    limits = UploadLimits.from_settings(settings)

    @app.post("/api/v1/uploads", status_code=202, response_model=models.UploadAccepted, responses={
        **UPLOAD_ERRORS, 200: {"model": models.UploadAccepted, "description": "A repeat: this API key already "
                               "uploaded these bytes for this account (upload_id is that upload; no limit used)"}},
              dependencies=[Depends(require_consumer), Depends(accepts_json)], openapi_extra=MULTIPART_BODY,
              tags=["uploads"])
    async def upload(request: Request):
        """Stream a usage file into the raw store; 202 with its raw_file id once the bytes are safe.
        Fields: file, role (admin needs x-admin-token), accountKey, optional esiid, meter and sha256.
        The same file again from the same API key and account is a repeat: 200 with the earlier upload."""
        def authorize(role: str) -> None:
            if role == "admin" and not is_admin(request, request.headers.get("x-admin-token")):
                raise ApiError(401, "unauthorized", "role admin needs a valid x-admin-token header")

        spooled, head, meta = await receive_multipart(request, store=store, max_bytes=settings.upload_max_bytes,
                                                      authorize=authorize, limits=limits, engine=engine)
        accepted = await run_in_threadpool(accept_upload, engine, store, spooled, head, meta, limits)
        return _accepted(request, accepted)

    @app.post("/api/v1/admin/smt/inline", status_code=202, response_model=models.UploadAccepted,
              responses=UPLOAD_ERRORS, dependencies=[Depends(require_admin), Depends(accepts_json)], tags=["uploads"],
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": models.InlineUpload.model_json_schema()}}}})
    async def inline(request: Request):
        """The legacy inline JSON contract (base64, optionally gzip first); counted as role admin."""
        body = await read_bounded(request, settings.upload_max_bytes * 4 // 3 + (1 << 16))
        payload = await run_in_threadpool(parse_inline, body)  # decoding 100 MB must not stall the loop
        data = await run_in_threadpool(decode_inline, payload, settings.upload_max_bytes)
        accepted = await run_in_threadpool(keep_inline, engine, store, data, payload, request.state.corr_id,
                                           limits)
        return _accepted(request, accepted)

    @app.get("/api/v1/uploads/{upload_id}", response_model=models.UploadStatus, responses=ERRORS,
             dependencies=[Depends(require_consumer), Depends(accepts_json)], tags=["uploads"])
    def upload_status(request: Request, upload_id: Annotated[int, Path(ge=1, le=MAX_ID)]):
        """An upload made with this x-api-key (the admin token sees any): its status, rows and error.
        Another key's upload is a 404, like one that does not exist."""
        return render(upload_status_for(app.state.read_engine, request, upload_id), request)


def _accepted(request: Request, accepted) -> Response:
    captured = accepted.captured
    # Built on the configured base URL, never the client-chosen Host header (relative without one).
    status_url = f"{request.app.state.settings.public_base_url.rstrip('/')}/api/v1/uploads/{accepted.upload_id}"
    response = render({"raw_file_id": captured.raw_file_id, "upload_id": accepted.upload_id, "sha256": captured.sha256,
                       "size_bytes": accepted.size_bytes, "status": captured.status, "duplicate": not captured.new,
                       "repeat": accepted.repeat, "status_url": status_url}, request, 200 if accepted.repeat else 202)
    response.headers["Location"] = status_url
    return response
