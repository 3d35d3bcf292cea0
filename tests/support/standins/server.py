"""The stand-ins' shared server: requests, responses, faults, the request log.

Each one is a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, ephemeral port,
background thread) speaking the same JSON protocol as the real service, over an
in-memory store that tests may edit between runs. Every request is logged, and faults
can be injected per path: an HTTP status (e.g. 429 with Retry-After, once; 500 always or
N times), a slow answer, a malformed body.

    with ConfluenceStandin(max_limit=5) as cf:
        root = cf.add_page("100", "Raiz", "<p>raiz</p>")
        cf.add_page("101", "Filha", "<p>filha</p>", parent="100")
        cf.fail(r"/descendant/", status=429, retry_after="1", times=1)
        ...  # point a ConfluenceSourceConfig at cf.base_url with page_ids=["100"]
        assert cf.count(r"/content/101$") == 1

Usable from any test and from a benchmark: ``from tests.support.standins import ...``
(the project root is on sys.path for pytest; a bench script puts it there).
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from index.settings import Settings

# A body a sloppy editor could produce: unclosed tags, stray closers, a broken table.
MALFORMED_HTML = (
    "<div><h2>Procedimento<p>Passo 1: abra o <b>Configurador <i>e</b> siga</i>"
    "<table><tr><td>MV_ESTNEG<td>S</tr></div></span><ul><li>item sem fechar"
)
MALFORMED_JSON = b'{"results": [{"id": "1", "title": '
_AUTO: Any = object()  # "make up a body" (None means "no body")


def fast_settings(**overrides: Any) -> Settings:
    """Settings with tiny timeouts and backoff, so retry paths run in milliseconds."""
    values: dict[str, Any] = {"embedder": "fake", "http_timeout": 0.5, "http_retries": 2}
    values.update(http_backoff=0.01, http_concurrency=4)
    return Settings(**{**values, **overrides})


# --- requests, responses and faults --------------------------------------------------


@dataclass
class Request:
    """One request as the stand-in saw it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    body: bytes = b""  # what a POST carried

    @property
    def target(self) -> str:
        """``path?query``, percent-decoded: what fault and log patterns are matched against."""
        return f"{self.path}?{unquote(urlencode(self.query, doseq=True))}" if self.query else self.path

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status=status, body=json.dumps(data, ensure_ascii=False).encode())


@dataclass
class Fault:
    """Applied to requests whose ``target`` matches ``pattern`` (re.search).

    ``times``: how many requests it affects (None: all). ``delay``: seconds to wait before
    answering (a slow server). ``status``: answer this status instead of the real one.
    ``body``: answer these bytes with status 200 (malformed payloads).
    """

    pattern: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    body: bytes | None = None
    times: int | None = 1
    hits: int = 0

    def active(self) -> bool:
        return self.times is None or self.hits < self.times


class StandinServer:
    """Base: lifecycle, request log, faults. Subclasses implement :meth:`route`."""

    def __init__(self, *, expected_auth: str | None = None) -> None:
        # With ``expected_auth``, a request without that exact Authorization gets 401.
        self.expected_auth = expected_auth
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True, name=type(self).__name__
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a slow fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "stand-in not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- faults ------------------------------------------------------------------------

    def fail(self, pattern: str, status: int = 500, *, times: int | None = 1, retry_after: str | None = None) -> Fault:
        """Answer ``status`` to matching requests (``times=None``: always)."""
        return self._add_fault(Fault(pattern, status=status, retry_after=retry_after, times=times))

    def slow(self, pattern: str, seconds: float, *, times: int | None = None) -> Fault:
        """Wait ``seconds`` before answering matching requests (past the client timeout)."""
        return self._add_fault(Fault(pattern, delay=seconds, times=times))

    def malformed(self, pattern: str, body: bytes = MALFORMED_JSON, *, times: int | None = None) -> Fault:
        """Answer 200 with ``body`` (by default truncated JSON) to matching requests."""
        return self._add_fault(Fault(pattern, body=body, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.active() and re.search(fault.pattern, request.target):
                    fault.hits += 1
                    return fault
        return None

    # --- request log -------------------------------------------------------------------

    def requests_to(self, pattern: str) -> list[Request]:
        """Logged requests whose ``path?query`` matches ``pattern`` (re.search)."""
        with self._lock:
            return [r for r in self.requests if re.search(pattern, r.target)]

    def count(self, pattern: str) -> int:
        return len(self.requests_to(pattern))

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # --- serving -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def _serve(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return Response(fault.status, b'{"error": "injected"}', headers=headers)
        if fault is not None and fault.body is not None:
            return Response(200, fault.body)
        if self.expected_auth is not None and request.headers.get("authorization") != self.expected_auth:
            return Response.json({"error": "Unauthorized"}, status=401)
        try:
            return self.route(request)
        except Exception:  # a bug in the stand-in: say so loudly rather than hang up
            traceback.print_exc()
            return Response(500, traceback.format_exc().encode(), "text/plain")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive handler threads must not hold up stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that timed out and hung up are expected here


class _Handler(BaseHTTPRequestHandler):
    standin: StandinServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            at=time.monotonic(),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )
        response = self.standin._serve(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_POST = do_GET  # same path: routes look at request.method and request.body

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _page_window(query: dict[str, list[str]], default: int, cap: int) -> tuple[int, int]:
    """(start, limit) from start/limit parameters, the limit silently capped."""
    start = int((query.get("start") or ["0"])[0] or 0)
    limit = int((query.get("limit") or [str(default)])[0] or default)
    return max(0, start), max(1, min(limit, cap))
