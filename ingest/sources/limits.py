"""What one page (or API response) may cost: a download deadline and a cap on its decoded size.

The body is read raw and inflated here, piece by bounded piece, so a gzip bomb (a few MB
that inflate to GBs) stops at the cap having inflated little more than the cap; and a
watchdog shuts the socket down at the deadline, so a server trickling a byte a second (or
going silent between bytes) cannot hold a page past it, whatever its read timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from index.settings import Settings

ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater decodes; nothing else is asked for
_PIECE = 64 * 1024  # most bytes inflated at once
_MB = 1_000_000


@dataclass(frozen=True)
class PageLimits:
    deadline: float  # seconds for one download, headers and body, redirects included
    max_bytes: int  # decoded body

    @classmethod
    def of(cls, settings: Settings, deadline: float | None = None, max_page_mb: float | None = None) -> PageLimits:
        """The settings' defaults, overridden by a source's ``page_deadline``/``max_page_mb``."""
        mb = max_page_mb if max_page_mb is not None else settings.http_max_page_mb
        return cls(deadline if deadline is not None else settings.http_page_deadline, max(1, int(mb * _MB)))

    def describe_size(self) -> str:
        mb = self.max_bytes / _MB
        return f"{mb:g} MB" if mb >= 1 else f"{self.max_bytes} bytes"


class OverLimit(Exception):
    """The body went over a limit; ``reason`` is pt-BR."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Inflater:
    """Content-Encoding decoding in bounded pieces (gzip, x-gzip, deflate, identity)."""

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise OverLimit(f"codificação de conteúdo não suportada: {encoding}")
        self.coding = codings[0] if codings else None
        self._z = self._new()
        self._first = True

    def _new(self) -> zlib._Decompress | None:
        if self.coding is None:
            return None
        return zlib.decompressobj(zlib.MAX_WBITS | 16 if self.coding != "deflate" else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        z = self._z
        if z is None:
            yield data
            return
        while data:
            try:
                out = z.decompress(data, _PIECE)
            except zlib.error:
                if not (self._first and self.coding == "deflate"):
                    raise
                # Some servers send raw deflate (no zlib header) as "deflate".
                z = self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                out = z.decompress(data, _PIECE)
            self._first = False
            if out:
                yield out
            data = z.unconsumed_tail
            if z.eof and z.unused_data:  # another gzip member follows
                data = z.unused_data
                z = self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
            elif z.eof:
                return


def read_limited(response: httpx.Response, limits: PageLimits, deadline_at: float) -> bytes:
    """The decoded body, or OverLimit when it exceeds ``limits.max_bytes`` or the
    deadline passes while it is read. The caller closes the response."""
    inflater = _Inflater(response.headers.get("content-encoding", ""))
    parts: list[bytes] = []
    size = 0
    late = OverLimit(f"download passou do prazo de {limits.deadline:g} s")
    with _Watchdog(response, deadline_at) as watchdog:
        try:
            for raw in response.iter_raw():
                for piece in inflater.feed(raw):
                    size += len(piece)
                    if size > limits.max_bytes:
                        raise OverLimit(f"página maior que o limite de {limits.describe_size()} (decodificada)")
                    parts.append(piece)
                if time.monotonic() >= deadline_at:
                    raise late
        except zlib.error as e:
            raise httpx.DecodingError(str(e)) from e
        except httpx.HTTPError:
            if watchdog.fired:
                raise late from None
            raise
    # A body that ends without a length (HTTP/1.0, connection close) ends when the watchdog
    # shuts the socket: what was read by then is a truncated page, not the page.
    if watchdog.fired or time.monotonic() >= deadline_at:
        raise late
    return b"".join(parts)


class _Watchdog:
    """Shuts the response's socket down at ``deadline_at``, waking a blocked read."""

    def __init__(self, response: httpx.Response, deadline_at: float) -> None:
        self.sock = _socket_of(response)
        self.timer = threading.Timer(max(0.0, deadline_at - time.monotonic()), self._fire)
        self.timer.daemon = True
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):  # already closed
                self.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()


def _socket_of(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    return sock if isinstance(sock, socket.socket) else None
