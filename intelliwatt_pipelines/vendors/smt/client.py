"""The SMT HTTP client (vendor-apis.md §2.1): a JWT from ``/v2/token/`` cached per (base URL, username)
until 60 s before expiry, then ``POST {base}{path}`` with it. Calls go to the SMT base URL, or to a
proxy base URL on a whitelisted host (SMT accepts whitelisted caller IPs only) with the proxy's shared
secret in ``x-proxy-token`` (``Authorization`` carries the SMT token). 5xx answers, timeouts and network
errors are retried a bounded number of times with exponential backoff (tenacity).

Every call returns an ``SmtResponse``: the response bytes verbatim, the status and the redacted request,
so the caller can store both. Log lines name ESIIDs by their mask only, and never a password or token.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.vendors.http import HttpClientBase
from intelliwatt_pipelines.vendors.smt.calls import SmtLifecycleCalls
from intelliwatt_pipelines.vendors.smt.requests import (
    ENERGYDATA_PATH,
    SERVICE_ID_HEADER_PATHS,
    TOKEN_PATH,
    RedactedRequest,
    SmtError,
    SmtResponse,
    TokenGrant,
    energydata_body,
    excerpt,
    new_trans_id,
    parse_token,
    redact_body,
    redact_headers,
    token_body,
)

log = logging.getLogger("intelliwatt.smt")
REFRESH_MARGIN = dt.timedelta(seconds=60)
# Transient failures worth another attempt; anything else (4xx included) is an answer to store.
_RETRIED = (httpx.TimeoutException, httpx.NetworkError)


class SmtUnavailable(SmtError):
    """SMT kept failing (5xx, timeouts or network errors) through every attempt. ``response`` is the
    last HTTP answer, if there was one, so its bytes can still be stored."""

    def __init__(self, message: str, response: SmtResponse | None = None):
        super().__init__(message)
        self.response = response


class _ServerError(Exception):
    """A 5xx answer, raised inside the retry loop only so tenacity retries it."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class SmtApiConfig:
    """Where and as whom to call SMT. ``service_id`` empty means the username (it must equal
    ``requestorID``); ``proxy_url`` set sends every call, the token's too, there instead."""

    base_url: str
    username: str
    password: str = field(repr=False)
    requestor_auth_id: str = ""
    service_id: str = ""
    proxy_url: str = ""
    proxy_token: str = field(default="", repr=False)
    timeout_s: float = 60.0
    attempts: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0

    def __post_init__(self):
        missing = [name for name, value in (("INTELLIWATT_SMT_API_BASE_URL or INTELLIWATT_SMT_PROXY_URL",
                                             self.base_url or self.proxy_url),
                                            ("INTELLIWATT_SMT_USERNAME", self.username),
                                            ("INTELLIWATT_SMT_PASSWORD", self.password)) if not value]
        if missing:
            raise ValueError("SMT API settings missing: " + ", ".join(missing))
        if self.attempts < 1 or self.timeout_s <= 0:
            raise ValueError("SMT API: attempts must be at least 1 and the timeout above 0")

    @property
    def endpoint(self) -> str:
        """The base every path is appended to: the proxy when there is one."""
        return (self.proxy_url or self.base_url).rstrip("/")

    @property
    def requestor_id(self) -> str:
        return self.service_id or self.username


class TokenCache:
    """Grants by (base URL, username), shared by every client of the process: a run that builds a
    client per ESIID still asks for one token."""

    def __init__(self):
        self._grants: dict[tuple[str, str], TokenGrant] = {}
        self.lock = threading.Lock()  # held across check-and-fetch, so two threads fetch once

    def usable(self, key: tuple[str, str], now: dt.datetime) -> TokenGrant | None:
        grant = self._grants.get(key)
        return grant if grant is not None and grant.usable(now, REFRESH_MARGIN) else None

    def put(self, key: tuple[str, str], grant: TokenGrant) -> None:
        self._grants[key] = grant

    def forget(self, key: tuple[str, str]) -> None:
        self._grants.pop(key, None)


TOKENS = TokenCache()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SmtClient(HttpClientBase, SmtLifecycleCalls):
    """SMT calls over an ``httpx.Client`` (injected in tests: ``httpx.Client(transport=MockTransport(...))``).
    ``clock`` and ``sleep`` are injectable so expiry and backoff are tested without waiting. The §2.2/§2.3
    calls (agreements, subscriptions, backfill, report status, meterInfo) come from ``SmtLifecycleCalls``."""

    def __init__(self, config: SmtApiConfig, http: httpx.Client | None = None, *, cache: TokenCache = TOKENS,
                 clock: Callable[[], dt.datetime] = _utcnow, sleep: Callable[[float], None] = time.sleep):
        super().__init__(http)
        self.config = config
        self._cache, self._clock, self._sleep = cache, clock, sleep
        self._key = (config.endpoint, config.username)

    def token(self) -> str:
        """The cached JWT, or a new one when there is none or it expires within 60 s."""
        with self._cache.lock:
            grant = self._cache.usable(self._key, self._clock())
            if grant is None:
                grant = self._fetch_token()
                self._cache.put(self._key, grant)
            return grant.access_token

    def _fetch_token(self) -> TokenGrant:
        body = token_body(self.config.username, self.config.password)
        response = self._send(TOKEN_PATH, body, self._headers(TOKEN_PATH, None), None, retry=True)
        grant = parse_token(response.status, response.content, self._clock())  # raises on 401, not 200
        # The host only: a URL may hold user:password.
        log.info("SMT token obtained from %s, valid until %s", httpx.URL(self.config.endpoint).host,
                 grant.expires_at.isoformat())
        return grant

    def post(self, path: str, body: dict[str, Any], *, retry: bool = True) -> SmtResponse:
        """``POST {base}{path}`` with the bearer token; 2xx and 4xx answers are returned as they are
        (a 401 also drops the cached token so the next call asks for a new one). ``retry=False`` for
        calls that must not be repeated after a timeout (one that may have been executed)."""
        response = self._send(path, body, self._headers(path, self.token()), body.get("trans_id"), retry=retry)
        if response.status == 401:
            self._cache.forget(self._key)
        return response

    def energydata(self, esiids: Iterable[str], start: dt.date, end: dt.date, *, reading_type: str = "A",
                   compatibility: bool = False) -> SmtResponse:
        """``/v2/energydata/`` for the ESIIDs and the days ``start`` to ``end`` (JSON over the API)."""
        body = energydata_body(trans_id=new_trans_id("ED"), requestor_id=self.config.requestor_id,
                               requestor_auth_id=self.config.requestor_auth_id, esiids=esiids, start=start,
                               end=end, reading_type=reading_type, compatibility=compatibility)
        log.info("SMT energydata %s for %s, %s to %s", body["trans_id"],
                 ", ".join(mask(e) for e in body["ESIIDList"]), body["startDate"], body["endDate"])
        return self.post(ENERGYDATA_PATH, body)

    def _headers(self, path: str, token: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if path in SERVICE_ID_HEADER_PATHS:
            headers["username"] = headers["serviceId"] = self.config.requestor_id
        if self.config.proxy_url and self.config.proxy_token:
            headers["x-proxy-token"] = self.config.proxy_token
        return headers

    def _send(self, path: str, body: dict[str, Any], headers: dict[str, str], trans_id: str | None,
              *, retry: bool) -> SmtResponse:
        url = self.config.endpoint + path
        shown_url = str(httpx.URL(url).copy_with(userinfo=b""))  # a proxy URL may hold user:password
        redacted = RedactedRequest("POST", shown_url, redact_headers(headers), redact_body(body), trans_id)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.attempts if retry else 1),
            wait=wait_exponential(multiplier=self.config.backoff_s, max=self.config.backoff_max_s),
            retry=retry_if_exception_type((_ServerError, *_RETRIED)), sleep=self._sleep, reraise=True,
            before_sleep=lambda state: _log_retry(path, trans_id, state))
        payload = json.dumps(body).encode()
        try:
            answer = retrying(self._post_once, url, payload, headers)
        except _ServerError as error:
            last = _response(path, error.response, redacted, retrying.statistics.get("attempt_number", 1))
            raise SmtUnavailable(f"SMT {path} failed after {last.attempts} attempt(s): HTTP {last.status}: "
                                 f"{excerpt(last.content)}", last) from None
        except _RETRIED as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise SmtUnavailable(f"SMT {path} failed after {attempts} attempt(s): {type(error).__name__} "
                                 f"(timeout {self.config.timeout_s:g} s)") from None
        done = _response(path, answer, redacted, retrying.statistics.get("attempt_number", 1))
        log.info("SMT %s %s: HTTP %s after %d attempt(s)", path, trans_id or "-", done.status, done.attempts)
        return done

    def _post_once(self, url: str, payload: bytes, headers: dict[str, str]) -> httpx.Response:
        response = self._http.post(url, content=payload, headers=headers, timeout=self.config.timeout_s)
        if response.status_code >= 500:
            raise _ServerError(response)
        return response


def _response(path: str, response: httpx.Response, request: RedactedRequest, attempts: int) -> SmtResponse:
    return SmtResponse(path=path, status=response.status_code, content=response.content,
                       content_type=response.headers.get("content-type", ""), request=request, attempts=attempts)


def _log_retry(path: str, trans_id: str | None, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("SMT %s %s: attempt %d failed (%s); retrying in %.1f s", path, trans_id or "-",
                state.attempt_number, error, wait)
