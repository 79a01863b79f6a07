"""SMT requests and responses as plain data (vendor-apis.md §2.1): request bodies, ``trans_id``, dates,
the token response, and the redacted copy of a request that may be logged or stored. No I/O here, so
every rule is a unit test; ``client`` does the HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.esiid import ESIID_RE
from intelliwatt_pipelines.pii import redact, unlike_esiid

TOKEN_PATH = "/v2/token/"
ENERGYDATA_PATH = "/v2/energydata/"
# SMT compares these two headers with requestorID on these calls; without them it answers 401
# "Username/ServiceID Mismatch on both Header and Payload message." (§2.2).
SERVICE_ID_HEADER_PATHS = frozenset({"/v2/NewAgreement/", "/v2/NewSubscription/"})
TRANS_ID_MAX = 32
DEFAULT_EXPIRES_IN = 3600
REDACTED = "[redacted]"
# Values that never leave the process, whatever the call: credentials, tokens, the customer's e-mail.
SECRET_KEYS = frozenset({"password", "accesstoken", "access_token", "token", "retailcustomeremail"})
SECRET_HEADERS = frozenset({"authorization", "x-proxy-token"})
_CENTRAL = ZoneInfo(CENTRAL_TZ)

TOKEN_401 = ("SMT refused the token request (HTTP 401, invalid credentials). The three known causes: "
             "1) wrong service ID: INTELLIWATT_SMT_USERNAME must be the API service ID, not a portal login; "
             "2) wrong password for that service ID (INTELLIWATT_SMT_PASSWORD); "
             "3) the calling IP is not whitelisted at SMT (call from a whitelisted host, or through "
             "INTELLIWATT_SMT_PROXY_URL).")


class SmtError(RuntimeError):
    """An SMT call failed; the message names what to check and never holds a secret or a raw ESIID."""


class SmtAuthError(SmtError):
    """HTTP 401 on the token call: one of the three causes in ``TOKEN_401``."""


class SmtTokenError(SmtError):
    """A token response that cannot be used (not HTTP 200, statusCode not 200, no accessToken)."""


def new_trans_id(prefix: str = "IW", *, now_ms: int | None = None, nonce: str | None = None) -> str:
    """``<PREFIX><epoch ms><8 hex>`` as the replaced system makes them: unique per request (a
    millisecond plus 32 random bits) and at most 32 characters, SMT's limit."""
    if not re.fullmatch(r"[A-Z0-9]{0,11}", prefix):
        raise ValueError("trans_id prefix: at most 11 capital letters or digits")
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    trans_id = f"{prefix}{millis}{nonce or secrets.token_hex(4).upper()}"
    if len(trans_id) > TRANS_ID_MAX:
        raise ValueError(f"trans_id longer than {TRANS_ID_MAX} characters")
    return trans_id


def mdy(day: dt.date) -> str:
    """A date as SMT takes it: MM/DD/YYYY, zero-padded (never ISO, unlike one route of the replaced system)."""
    return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"


def checked_esiids(esiids: Iterable[str]) -> list[str]:
    """The ESIIDs as given, each 17 or 22 digits: never padded or cut (22-digit CenterPoint ids stay whole)."""
    found = list(esiids)
    if not found:
        raise ValueError("no ESIID to request")
    bad = [unlike_esiid(e) for e in found if not (isinstance(e, str) and ESIID_RE.match(e))]
    if bad:
        raise ValueError("not an ESIID (17 or 22 digits): " + ", ".join(str(b) for b in bad))
    return found


def token_body(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


def energydata_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, esiids: Iterable[str],
                    start: dt.date, end: dt.date, reading_type: str = "A", compatibility: bool = False) -> dict:
    """The ``/v2/energydata/`` body, keys as §2.1. ``version`` is always ``A`` (all revisions) so SMT does
    not silently reduce the dataset; ``reading_type`` ``A`` is consumption and generation, ``C``
    consumption only. ``compatibility`` adds the replaced system's ``filter``/``options`` blocks."""
    ids = checked_esiids(esiids)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if reading_type not in ("A", "C"):
        raise ValueError(f"readingType {reading_type!r} is not A or C")
    body: dict[str, Any] = {
        "trans_id": trans_id, "requestorID": requestor_id, "requestorType": "CSP",
        "requesterAuthenticationID": requestor_auth_id, "startDate": mdy(start), "endDate": mdy(end),
        "deliveryMode": "API", "reportFormat": "JSON", "version": "A", "readingType": reading_type,
        "ESIIDList": ids, "SMTTermsandConditions": "Y"}
    if compatibility:
        body["filter"] = {"esiidList": ids, "startDate": mdy(start), "endDate": mdy(end)}
        body["options"] = {"dataTypes": ["INTERVAL", "DAILY", "MONTHLY"]}
    return body


@dataclass(frozen=True)
class TokenGrant:
    """A JWT and when it stops working (aware, UTC). The token is left out of repr."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: dt.datetime

    def usable(self, now: dt.datetime, margin: dt.timedelta = dt.timedelta(seconds=60)) -> bool:
        """Still good for a call: reused until ``margin`` before expiry."""
        return now < self.expires_at - margin


def parse_token(status: int, content: bytes, now: dt.datetime) -> TokenGrant:
    """The token response: success is HTTP 200 with ``statusCode`` 200 (``"200"`` in SMT's document, 200
    in the replaced system's code: both). Expiry is ``expiresAt`` when that lies in the future, else now
    plus ``expiresIn`` (``expires_in``; 3600 when absent or unusable)."""
    if status == 401:
        raise SmtAuthError(f"{TOKEN_401} Response: {excerpt(content)}")
    if status != 200:
        raise SmtTokenError(f"SMT token request failed with HTTP {status}: {excerpt(content)}")
    data = _json_object(content)
    if data is None:
        raise SmtTokenError(f"SMT token response is not a JSON object: {excerpt(content)}")
    if str(data.get("statusCode", "")).strip() != "200":
        raise SmtTokenError(f"SMT token response statusCode is not 200: {excerpt(content)}")
    token = data.get("accessToken")
    if not isinstance(token, str) or not token.strip():
        raise SmtTokenError(f"SMT token response has no accessToken: {excerpt(content)}")
    token_type = data.get("tokenType") or data.get("token_type") or "Bearer"
    lifetime = dt.timedelta(seconds=_seconds(data.get("expiresIn", data.get("expires_in"))))
    expires_at = smt_time(data.get("expiresAt"))
    if expires_at is None or expires_at <= now:
        expires_at = now + lifetime
    return TokenGrant(access_token=token.strip(), token_type=str(token_type), expires_at=expires_at)


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if 0 < seconds < float("inf") else DEFAULT_EXPIRES_IN


def smt_time(value: Any) -> dt.datetime | None:
    """``MM/DD/YYYY HH:MM:SS`` (SMT writes Central time, as in its files) as aware UTC; None if not that."""
    try:
        local = dt.datetime.strptime(str(value).strip(), "%m/%d/%Y %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=_CENTRAL).astimezone(dt.timezone.utc)


def _json_object(content: bytes) -> dict | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def redact_body(value: Any) -> Any:
    """A body fit for logs and storage: secret keys' values replaced by ``[redacted]`` at any depth, and
    every ESIID-looking digit run in a string replaced by its salted mask."""
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in SECRET_KEYS else redact_body(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_body(v) for v in value]
    return redact(value) if isinstance(value, str) else value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: REDACTED if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


def excerpt(content: bytes, limit: int = 300) -> str:
    """A response body for an error message: secrets and ESIIDs out, cut to ``limit`` characters."""
    data = _json_object(content)
    text = json.dumps(redact_body(data)) if data is not None else redact(content.decode("utf-8", "replace"))
    return text[:limit] + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class RedactedRequest:
    """What was sent, as it may be logged or stored: no password, token or raw ESIID."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    trans_id: str | None

    def as_json(self) -> bytes:
        return json.dumps({"method": self.method, "url": self.url, "headers": self.headers,
                           "body": self.body, "trans_id": self.trans_id}, sort_keys=True).encode()


@dataclass(frozen=True)
class SmtResponse:
    """One call's outcome: the response bytes verbatim (for the raw store), status and the redacted request."""

    path: str
    status: int
    content: bytes = field(repr=False)
    content_type: str
    request: RedactedRequest
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.content)
