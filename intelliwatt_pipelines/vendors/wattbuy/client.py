"""The WattBuy HTTP client (vendor-apis.md §2.5): ``GET {base}{path}?…`` with ``x-api-key`` and ``Accept:
application/json`` only, a 12 s timeout, one retry on HTTP ≥ 500 (0.3 s × attempt), up to two retries on
429 honouring ``Retry-After``, none on 403 (its support hint is logged instead). Every HTTP answer is
returned as a ``WattBuyResponse`` (the last one, after retries) so the caller stores it whatever it is.

Logs never hold the key or a query value (the address): httpx's own request line is masked too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from intelliwatt_pipelines.vendors.http import HttpClientBase
from intelliwatt_pipelines.vendors.wattbuy.requests import (
    API_KEY_HEADER,
    BASE_URL,
    ESI_PATH,
    INFO_PATH,
    OFFERS_PATH,
    RETAIL_RATES_PATH,
    WattBuyResponse,
    captured_headers,
    check_no_esiid,
    esi_params,
    forbidden_hint,
    info_params,
    masked_url,
    offers_params,
    redacted_request,
    retail_rates_params,
)

log = logging.getLogger("intelliwatt.wattbuy")
SERVER_ERROR_ATTEMPTS = 2  # one retry
RATE_LIMIT_ATTEMPTS = 3  # two retries
BACKOFF_S = 0.3
RETRY_AFTER_MAX_S = 30.0


class WattBuyError(RuntimeError):
    """A WattBuy call got no answer (timeout, network); the message holds no key or address."""


class _Retryable(Exception):
    """A 5xx or 429 answer, raised inside the retry loop only so tenacity retries it."""

    def __init__(self, response: httpx.Response, attempts: int, wait_s: Callable[[int], float]):
        super().__init__(f"HTTP {response.status_code}")
        self.response, self.attempts, self.wait_s = response, attempts, wait_s


def _retry_after(response: httpx.Response) -> Callable[[int], float]:
    try:
        seconds = float(response.headers.get("retry-after", "1"))
    except ValueError:  # an HTTP date: wait the cap's worth of a second per attempt instead
        seconds = 1.0
    return lambda attempt: min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


def _stop(state: RetryCallState) -> bool:
    error = state.outcome.exception() if state.outcome else None
    return not isinstance(error, _Retryable) or state.attempt_number >= error.attempts


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return error.wait_s(state.attempt_number) if isinstance(error, _Retryable) else 0.0


class _MaskedQueries(logging.Filter):
    """httpx logs every request's URL at INFO, query and all: mask the query values in that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(_masked(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _masked(url: httpx.URL) -> str:
    base = str(url.copy_with(query=None, fragment=None))
    return masked_url(base, "", dict(url.params)) if url.query else base


_HTTPX_FILTER = _MaskedQueries()
if not any(isinstance(f, _MaskedQueries) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_HTTPX_FILTER)


@dataclass(frozen=True)
class WattBuyConfig:
    api_key: str = field(repr=False)
    base_url: str = BASE_URL
    timeout_s: float = 12.0

    def __post_init__(self):
        if not self.api_key:
            raise ValueError("WattBuy API key missing: set INTELLIWATT_WATTBUY_API_KEY")
        if self.timeout_s <= 0:
            raise ValueError("WattBuy timeout must be above 0")


class WattBuyClient(HttpClientBase):
    """WattBuy calls over an ``httpx.Client`` (injected in tests through ``MockTransport``); ``sleep`` is
    injectable so backoff is tested without waiting."""

    def __init__(self, config: WattBuyConfig, http: httpx.Client | None = None, *,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(http)
        self.config = config
        self._sleep = sleep

    def electricity_info(self, address: str, city: str, state: str, zip_code: str) -> WattBuyResponse:
        return self.get(INFO_PATH, info_params(address, city, state, zip_code))

    def info_esi(self, address: str, city: str, state: str, zip_code: str) -> WattBuyResponse:
        return self.get(ESI_PATH, esi_params(address, city, state, zip_code))

    def offers(self, zip_code: str, **options) -> WattBuyResponse:
        return self.get(OFFERS_PATH, offers_params(zip_code, **options))

    def retail_rates(self, utility_id: int | str, state: str, zip_code: str | None = None, **paging) -> WattBuyResponse:
        return self.get(RETAIL_RATES_PATH, retail_rates_params(utility_id, state, zip_code, **paging))

    def headers(self) -> dict[str, str]:
        """The only headers sent: the key and ``Accept``."""
        return {API_KEY_HEADER: self.config.api_key, "Accept": "application/json"}

    def get(self, path: str, params: Mapping[str, str]) -> WattBuyResponse:
        """``GET {base}{path}`` with ``params``; the last answer, whatever its status."""
        check_no_esiid(path, params)
        params = dict(params)
        headers = self.headers()
        redacted = redacted_request(self.config.base_url, path, params, headers)
        retrying = Retrying(stop=_stop, wait=_wait, retry=retry_if_exception_type(_Retryable), sleep=self._sleep,
                            reraise=True, before_sleep=lambda state: _log_retry(path, state))
        try:
            answer = retrying(self._get_once, self.config.base_url.rstrip("/") + path, params, headers)
        except _Retryable as error:
            answer = error.response
        except httpx.HTTPError as error:
            raise WattBuyError(f"WattBuy {path}: no answer ({type(error).__name__}, timeout "
                               f"{self.config.timeout_s:g} s)") from None
        attempts = retrying.statistics.get("attempt_number", 1)
        response = WattBuyResponse(path=path, status=answer.status_code, content=answer.content,
                                   headers=captured_headers(answer.headers), request=redacted, params=params,
                                   attempts=attempts)
        if response.status == 403:
            log.warning("WattBuy forbidden: %s", json.dumps(forbidden_hint(response), sort_keys=True))
        log.info("WattBuy GET %s: HTTP %s after %d attempt(s), request id %s", path, response.status, attempts,
                 response.headers.get("x-amzn-requestid", "-"))
        return response

    def _get_once(self, url: str, params: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        response = self._http.get(url, params=params, headers=headers, timeout=self.config.timeout_s)
        if response.status_code >= 500:
            raise _Retryable(response, SERVER_ERROR_ATTEMPTS, lambda attempt: BACKOFF_S * attempt)
        if response.status_code == 429:
            raise _Retryable(response, RATE_LIMIT_ATTEMPTS, _retry_after(response))
        return response


def _log_retry(path: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("WattBuy GET %s: attempt %d answered %s; retrying in %.1f s", path, state.attempt_number, error, wait)
