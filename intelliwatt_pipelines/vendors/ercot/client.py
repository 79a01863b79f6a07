"""The ERCOT MIS client: the document list and streamed downloads over ``httpx``, with a timeout and
bounded retries (tenacity) on HTTP ≥ 500, timeouts and network errors. Public data: no credentials."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from intelliwatt_pipelines.vendors.ercot.requests import (
    BASE_URL,
    MisDocument,
    doc_list_url,
    download_url,
    parse_doc_list,
)
from intelliwatt_pipelines.vendors.http import HttpClientBase

log = logging.getLogger("intelliwatt.ercot")
ATTEMPTS = 3
CHUNK = 1 << 20


class ErcotError(RuntimeError):
    """A MIS call failed for good (after retries); the message says which and why."""


class _Retryable(Exception):
    pass


@dataclass(frozen=True)
class ErcotConfig:
    base_url: str = BASE_URL
    timeout_s: float = 60.0
    attempts: int = ATTEMPTS

    def __post_init__(self):
        if self.timeout_s <= 0 or self.attempts < 1:
            raise ValueError("ERCOT timeout must be above 0 and attempts at least 1")


class ErcotMisClient(HttpClientBase):
    """MIS calls over an ``httpx.Client`` (a ``MockTransport`` one in tests); ``sleep`` injectable."""

    def __init__(self, config: ErcotConfig | None = None, http: httpx.Client | None = None, *,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(http, follow_redirects=True)
        self.config = config or ErcotConfig()
        self._sleep = sleep

    def _retrying(self, what: str) -> Retrying:
        return Retrying(stop=stop_after_attempt(self.config.attempts), wait=wait_exponential(multiplier=0.5, max=8),
                        retry=retry_if_exception_type((_Retryable, httpx.TimeoutException, httpx.TransportError)),
                        sleep=self._sleep, reraise=True,
                        before_sleep=lambda s: log.warning("ERCOT %s: attempt %d failed (%s); retrying", what,
                                                           s.attempt_number, s.outcome.exception()))

    def _call(self, what: str, fn):
        try:
            return self._retrying(what)(fn)
        except (_Retryable, httpx.HTTPError) as error:
            raise ErcotError(f"ERCOT MIS {what}: {type(error).__name__}: {error}") from None

    def list_documents(self) -> tuple[list[MisDocument], bytes]:
        """The report type 203 document list: (documents, the answer's exact bytes, to keep)."""
        url, params = doc_list_url(self.config.base_url)

        def once() -> bytes:
            response = self._http.get(url, params=params, timeout=self.config.timeout_s)
            _check(response)
            return response.content

        content = self._call("document list", once)
        return parse_doc_list(content), content

    def download(self, doc_id: str, out: BinaryIO) -> int:
        """Stream document ``doc_id`` into ``out`` (rewound and truncated before each attempt); bytes written."""
        url, params = download_url(self.config.base_url, doc_id)

        def once() -> int:
            out.seek(0)
            out.truncate()
            size = 0
            with self._http.stream("GET", url, params=params, timeout=self.config.timeout_s) as response:
                _check(response)
                for block in response.iter_bytes(CHUNK):
                    out.write(block)
                    size += len(block)
            return size

        size = self._call(f"download of DocID {doc_id}", once)
        log.info("ERCOT MIS DocID %s: %d bytes", doc_id, size)
        return size


def _check(response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise _Retryable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise ErcotError(f"HTTP {response.status_code} from {response.request.url.path}")
