"""What every vendor client shares: an ``httpx.Client`` injected (a ``MockTransport`` one in tests) or
owned, closed on leaving a ``with`` block only when the client made it itself."""

from __future__ import annotations

import httpx


class HttpClientBase:
    def __init__(self, http: httpx.Client | None = None, **client_options):
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(**client_options)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
