"""Routes a person opens in a browser: a home's two SVG pictures and the admin status page (HTML).

A browser cannot add ``x-api-key`` or ``x-admin-token`` to a link it follows, so these routes also
take HTTP Basic credentials whose password is the key or token (any user name). The 401 answer
challenges for Basic, so the browser asks once and then resends what was typed to every route of
the realm. Secrets are compared in constant time and never travel in the URL.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.responses import Response

from intelliwatt_pipelines.api import picture_reads, pictures, reads
from intelliwatt_pipelines.api.auth import ADMIN_TOKEN_HEADER, API_KEY_HEADER, is_admin, secret_matches
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.negotiation import MediaType, choose
from intelliwatt_pipelines.api.routing import ERRORS, valid_esiid
from intelliwatt_pipelines.api.status_page import status_html
from intelliwatt_pipelines.api.timeparams import parse_day
from intelliwatt_pipelines.pii import mask

REALM = "IntelliWatt"
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
SVG = MediaType("image", "svg+xml")
HTML = MediaType("text", "html", (("charset", "utf-8"),))
# Served documents may not load or run anything: the SVGs and the page are self-contained.
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store", "Vary": "Accept"}
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                           "form-action 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY"}
RECENT, FAILURES, GAP_HOMES = 50, 20, 50


class _Basic(HTTPBasic):
    """HTTP Basic credentials, or None when absent or malformed (the route then answers its own 401)."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        try:
            return await super().__call__(request)
        except Exception:
            return None


BASIC = _Basic(auto_error=False, scheme_name="BrowserBasic", realm=REALM,
               description="For browsers: any user name, the API key (or admin token) as password.")


def _unauthorized(what: str) -> ApiError:
    return ApiError(401, "unauthorized", f"this route needs {what}, or HTTP Basic with it as the password",
                    CHALLENGE)


async def consumer_or_basic(request: Request, key: str | None = Security(API_KEY_HEADER),
                            token: str | None = Security(ADMIN_TOKEN_HEADER),
                            basic: HTTPBasicCredentials | None = Security(BASIC)) -> None:
    keys = request.app.state.settings.api_keys
    password = basic.password if basic else None
    if not (secret_matches(key, keys) or is_admin(request, token) or secret_matches(password, keys) or is_admin(request, password)):
        raise _unauthorized("a valid x-api-key header")


async def admin_or_basic(request: Request, token: str | None = Security(ADMIN_TOKEN_HEADER),
                         basic: HTTPBasicCredentials | None = Security(BASIC)) -> None:
    if not (is_admin(request, token) or is_admin(request, basic.password if basic else None)):
        raise _unauthorized("a valid x-admin-token header")


def _offer(media: MediaType):
    """Dependency: 406 unless the request's Accept takes ``media`` (``*/*`` and ``type/*`` do)."""
    def accepts(request: Request) -> None:
        values = request.headers.getlist("accept")
        if choose(", ".join(values) if values else None, (media,)) is None:
            raise ApiError(406, "not_acceptable", f"Accept: nothing acceptable; this route sends {media.type}/"
                                                  f"{media.subtype}")
    return accepts


class SvgResponse(Response):
    media_type = "image/svg+xml"


class HtmlResponse(Response):
    media_type = "text/html"


router = APIRouter()
Esiid = Annotated[str, Path(description="ESI ID, 17 or 22 digits.", examples=["10443720000000001"])]
Day = Annotated[str | None, Query(description="A Central local day (or an instant, meaning its day); default: "
                                              f"the home's data range, at most {picture_reads.MAX_DAYS} days.")]
PICTURE = {"response_class": SvgResponse, "tags": ["pictures"], "dependencies": [
    Depends(consumer_or_basic), Depends(_offer(SVG))], "responses": {
    **ERRORS, 200: {"content": {"image/svg+xml": {}}, "description": "An SVG picture."}}}


def _picture_window(conn, esiid: str, start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    valid_esiid(esiid)
    first, last = parse_day(start, "start"), parse_day(end, "end")
    reads.series(conn, esiid)  # 404 for an unknown home, as on the other ESIID routes
    return picture_reads.window(picture_reads.data_range(conn, esiid), first, last)


@router.get("/api/v1/esiids/{esiid}/completeness.svg", **PICTURE)
def completeness_svg(request: Request, esiid: Esiid, start: Day = None, end: Day = None):
    """Calendar of the home's Central days coloured by completeness (its worst series each day),
    DST days marked; one tooltip per day with its status and intervals found of expected."""
    with request.app.state.read_engine.connect() as conn:
        first, last = _picture_window(conn, esiid, start, end)
        days = picture_reads.home_days(conn, esiid, first, last)
    svg = pictures.completeness_calendar(days, first, last, f"Completeness of {mask(esiid)}")
    return SvgResponse(svg, headers=SVG_HEADERS)


@router.get("/api/v1/esiids/{esiid}/usage-heatmap.svg", **PICTURE)
def usage_heatmap_svg(request: Request, esiid: Esiid, start: Day = None, end: Day = None,
                      channel: Annotated[Literal["consumption", "generation"], Query(
                          description="Which channel to draw (summed over meters).")] = "consumption"):
    """kWh per Central hour (rows 0-23) and day (columns): real readings only. On a fall-back day the
    01:00 row sums both 01:00 hours; on a spring-forward day 02:00 does not exist and is no data."""
    with request.app.state.read_engine.connect() as conn:
        first, last = _picture_window(conn, esiid, start, end)
        kwh = picture_reads.hourly_kwh(conn, esiid, channel, first, last)
    svg = pictures.usage_heatmap(kwh, first, last, f"Usage of {mask(esiid)}", channel)
    return SvgResponse(svg, headers=SVG_HEADERS)


@router.get("/api/v1/admin/status", response_class=HtmlResponse, tags=["admin"],
            dependencies=[Depends(admin_or_basic), Depends(_offer(HTML))],
            responses={**ERRORS, 200: {"content": {"text/html": {}}, "description": "An HTML page."}})
def status_page(request: Request):
    """A page for a person: raw file counts, recent raw files, recent failures, homes with gaps
    (masked), each linked to its pictures. Open it in a browser with HTTP Basic (admin token as
    password)."""
    with request.app.state.read_engine.connect() as conn:
        html = status_html(counts=picture_reads.raw_file_counts(conn),
                           recent=picture_reads.recent_raw_files(conn, RECENT),
                           failures=picture_reads.recent_raw_files(conn, FAILURES, failed_only=True),
                           gap_homes=picture_reads.homes_with_gaps(conn, GAP_HOMES),
                           now=dt.datetime.now(dt.timezone.utc))
    return HtmlResponse(html, headers=PAGE_HEADERS, media_type="text/html; charset=utf-8")
