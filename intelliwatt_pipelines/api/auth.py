"""Consumer routes need an API key (``x-api-key``), admin routes the admin token (``x-admin-token``).

Both come from the environment. Comparisons are constant-time; a key or token never appears in a
log line or an error body. With none configured, the routes they guard refuse every request.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from intelliwatt_pipelines.api.errors import ApiError

API_KEY_HEADER = APIKeyHeader(name="x-api-key", auto_error=False, scheme_name="ApiKey",
                              description="Consumer key, one of INTELLIWATT_API_KEYS.")
ADMIN_TOKEN_HEADER = APIKeyHeader(name="x-admin-token", auto_error=False, scheme_name="AdminToken",
                                  description="INTELLIWATT_ADMIN_TOKEN; also accepted on consumer routes.")


def secret_matches(given: str | None, secrets) -> bool:
    if not given:
        return False
    given_bytes = given.encode("utf-8", "surrogateescape")
    found = False
    for secret in secrets:  # no early exit: the time does not tell which key nearly matched
        found |= hmac.compare_digest(given_bytes, secret.encode())
    return found


def is_admin(request: Request, token: str | None) -> bool:
    admin = request.app.state.settings.admin_token
    return bool(admin) and secret_matches(token, [admin])


async def require_admin(request: Request, token: str | None = Security(ADMIN_TOKEN_HEADER)) -> None:
    if not is_admin(request, token):
        raise ApiError(401, "unauthorized", "this route needs a valid x-admin-token header")


async def require_consumer(request: Request, key: str | None = Security(API_KEY_HEADER),
                     token: str | None = Security(ADMIN_TOKEN_HEADER)) -> None:
    if not (secret_matches(key, request.app.state.settings.api_keys) or is_admin(request, token)):
        raise ApiError(401, "unauthorized", "this route needs a valid x-api-key header")
