"""Correlation ids and one structured log line per request, with no personal data in it.

A pure ASGI middleware (streaming responses pass through untouched). It is also the last resort
for unhandled errors: a JSON 500 carrying the correlation id, and a traceback in the log with any
ESIID-looking number hashed by the redaction filter (database errors may quote values).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect

from intelliwatt_pipelines.api.errors import error_response
from intelliwatt_pipelines.pii import install_redaction, mask

log = logging.getLogger("intelliwatt.api")
CORRELATION_HEADER = "x-correlation-id"
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_LONG_DIGITS = re.compile(r"[0-9]{17}")


def correlation_id(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == CORRELATION_HEADER.encode():
            text = value.decode("latin-1")
            if _CALLER_ID.match(text) and not _LONG_DIGITS.search(text):  # an id may not smuggle in an ESIID
                return text
    return uuid.uuid4().hex


def route_of(scope) -> str:
    """The route template (``/api/v1/esiids/{esiid}/intervals``), never the raw path with an ESIID."""
    route = scope.get("route")
    return getattr(route, "path", None) or getattr(scope.get("endpoint"), "__name__", None) or "unmatched"


class RequestLog:
    def __init__(self, app):
        self.app = app
        # Built when the server starts, after it configured logging: its handlers get the filter too.
        install_redaction()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        corr = correlation_id(scope)
        state = scope.setdefault("state", {})
        state["corr_id"] = corr
        sent = {"status": 500, "started": False}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                sent["status"], sent["started"] = message["status"], True
                MutableHeaders(scope=message)[CORRELATION_HEADER] = corr
            await send(message)

        error = None
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # the caller went away mid-body; nothing to answer, nothing kept
            error, sent["status"] = "ClientDisconnect", 499
        except Exception as exc:
            error = type(exc).__name__
            log.error("unhandled error, corrId=%s", corr, exc_info=exc)
            if not sent["started"]:
                await error_response(500, "internal", "internal error; quote the corrId when reporting it",
                                     corr)(scope, receive, send_with_id)
        finally:
            record = {
                "event": "request", "method": scope["method"], "route": route_of(scope),
                "status": sent["status"], "ms": round((time.perf_counter() - started) * 1000, 2),
                "error": error or state.get("error_class"), "corrId": corr,
            }
            # A route may add fields of its own (already safe to log, e.g. a hash): never override these.
            record.update({k: v for k, v in (state.get("log_fields") or {}).items() if k not in record})
            esiid = (scope.get("path_params") or {}).get("esiid")
            if esiid:
                record["esiid"] = mask(esiid)
            log.info(json.dumps(record))
