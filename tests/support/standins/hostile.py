"""A loopback web site whose pages misbehave the way hostile or broken servers do.

Unlike the stand-ins (which answer a whole body at once), each page here controls how
its bytes go out: ``trickle`` sends one byte every ``interval`` seconds, ``silent`` sends
the headers and then nothing, ``bomb`` is a small gzip body that inflates to ``inflated``
bytes of zeros. Plain pages are served whole. Usable from tests and benches
(``from tests.support.standins.hostile import HostileSite, Page``).
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Page:
    kind: str  # "plain", "trickle", "silent", "bomb", "raw"
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    interval: float = 1.0
    inflated: int = 0
    headers: dict[str, str] | None = None


def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of ``inflated`` zero bytes (about 1/1000 of that on the wire)."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = []
    left = inflated
    while left > 0:
        parts.append(z.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(z.flush())
    return b"".join(parts)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients cut off at a limit hang up mid-body: expected here


class HostileSite:
    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.stopping = threading.Event()
        self.sent: dict[str, int] = {}  # bytes written per path (body only)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def add(self, path: str, page: Page) -> None:
        if page.kind == "bomb" and not page.body:
            page.body = gzip_bomb(page.inflated)
        self.pages[path] = page

    def html(self, path: str, html: str, **kw: Any) -> None:
        self.add(path, Page("plain", html.encode("utf-8"), **kw))

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"site": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
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
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + n


class _Handler(BaseHTTPRequestHandler):
    site: HostileSite
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        page = self.site.pages.get(path)
        if page is None:
            self._send(404, b"not found", "text/plain", {})
            return
        headers = dict(page.headers or {})
        if page.kind == "bomb":
            headers["Content-Encoding"] = "gzip"
        if page.kind in ("plain", "bomb", "raw"):
            self._send(200, page.body, page.content_type, headers)
            return
        # trickle / silent: announce a long body, then dribble it (or nothing).
        self.send_response(200)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(max(len(page.body), 1)))
        self.end_headers()
        self.wfile.flush()
        if page.kind == "silent":
            self.site.stopping.wait(600)
            return
        try:
            for i in range(len(page.body)):
                if self.site.stopping.wait(page.interval):
                    return
                self.wfile.write(page.body[i : i + 1])
                self.wfile.flush()
                self.site.count(path, 1)
        except OSError:
            return  # the client hung up

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            step = 1 << 16
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                self.site.count(self.path.split("?")[0], min(step, len(body) - i))
        except OSError:
            return

    def log_message(self, format: str, *args: Any) -> None:
        pass
