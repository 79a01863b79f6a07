"""A fake Smart Meter Texas on loopback: a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, a free
port, in a thread) answering with the recorded fixtures of ``data/vendor/smt/``, and recording every
request for assertions. For the CLI and end-to-end tests, where the client is the real httpx one::

    with FakeSmt() as smt:
        smt.answer("/v2/myagreements/", 200, fixture("myagreements.json"))   # queued, one per call
        smt.always("/v2/meterInfo/", 200, fixture("meter_info.json"))        # every call
        env["INTELLIWATT_SMT_API_BASE_URL"] = smt.base_url
        ...
        assert smt.paths() == ["/v2/token/", "/v2/myagreements/"]
        smt.requests[-1].json  # the parsed JSON body (None if none); .headers, .path, .body

``POST /v2/token/`` answers ``token.json`` unless told otherwise; a path with no answer left gets 404.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SMT_DATA = Path(__file__).resolve().parent / "data" / "vendor" / "smt"
TOKEN_PATH = "/v2/token/"
# the fixture each lifecycle path answers with by default (FakeSmt.defaults())
DEFAULT_ANSWERS = {
    "/v2/myagreements/": "myagreements.json", "/v2/NewAgreement/": "new_agreement.json",
    "/v2/NewSubscription/": "new_subscription.json", "/v2/Terminateagreement/": "terminate.json",
    "/v2/UnSubscription/": "unsubscribe.json", "/v2/Mysubscriptions/": "mysubscriptions.json",
    "/v2/15minintervalreads/": "backfill_accepted.json", "/v2/reportrequeststatus/": "report_status_pending.json",
    "/v2/meterInfo/": "meter_info.json", "/v2/energydata/": "energydata_monthly.json",
    "/v2/AgreementESIIDs/": "agreement_esiids.json",
}


def fixture(name: str) -> bytes:
    """The bytes of one recorded SMT answer in data/vendor/smt/."""
    return (SMT_DATA / name).read_bytes()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class FakeSmt:
    """SMT on ``base_url``: queued answers per path (``answer``), standing ones (``always``), every
    request kept in ``requests`` (thread-safe)."""

    token: bytes = field(default_factory=lambda: fixture("token.json"))
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self):
        self._queued: dict[str, deque] = defaultdict(deque)
        self._standing: dict[str, tuple[int, bytes]] = {TOKEN_PATH: (200, self.token)}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def answer(self, path: str, status: int, body: bytes | str) -> FakeSmt:
        """The next call of ``path`` gets this answer (several queue up, in order, before ``always``)."""
        with self._lock:
            self._queued[path].append((status, body.encode() if isinstance(body, str) else body))
        return self

    def always(self, path: str, status: int, body: bytes | str) -> FakeSmt:
        """Every call of ``path`` (once its queue is empty) gets this answer."""
        with self._lock:
            self._standing[path] = (status, body.encode() if isinstance(body, str) else body)
        return self

    def defaults(self) -> FakeSmt:
        """Every lifecycle path answers its recorded fixture (DEFAULT_ANSWERS), each call."""
        for path, name in DEFAULT_ANSWERS.items():
            self.always(path, 200, fixture(name))
        return self

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use FakeSmt as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _reply(self, request: Request) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(request)
            queue = self._queued.get(request.path)
            if queue:
                return queue.popleft()
            return self._standing.get(request.path, (404, b'{"statusCode":"404","statusReason":"Not Found"}'))

    def __enter__(self) -> FakeSmt:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = fake._reply(Request(self.command, self.path, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET = _serve

            def log_message(self, *args):  # quiet: the request log would go to stderr
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-smt", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
