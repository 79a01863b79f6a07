"""One JSON error shape for every failure: ``{"error": {"code", "message"}, "corrId"}``.

Messages are written for a person and never echo tokens or request bodies.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, corr_id: str,
                   headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}, "corrId": corr_id})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def friendly_validation(errors: list[dict]) -> str:
    """FastAPI's validation errors as one sentence per problem, without the rejected input."""
    parts = []
    for err in errors:
        where = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
        field = ".".join(where) or "request"
        msg = err.get("msg", "is invalid")
        if err.get("type") == "missing":
            msg = "is required"
        parts.append(f"{field}: {msg}")
    return "; ".join(parts)
