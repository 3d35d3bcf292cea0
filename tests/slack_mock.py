"""A local stand-in for Slack's Web API (and for response_url webhooks), for tests.

In the spirit of bolt-python's tests/mock_web_api_server: an ``http.server`` on
127.0.0.1 that records every call and answers ``{"ok": true, ...}``. Point a WebClient at
``server.api_url`` (``Settings.slack_api_url``) and response URLs at
``server.response_url(name)``; then assert on ``server.calls``.

    with MockSlackServer() as slack:
        ...
        [post] = slack.wait_for("chat.postMessage")
        assert post.body["thread_ts"] == "1700000000.000100"
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0000TEST"

_JSON_FIELDS = ("blocks", "attachments", "metadata")


@dataclass
class Call:
    """One request received: ``method`` is the Web API method ("chat.postMessage") or,
    for response_url webhooks, "response:<name>"."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class MockSlackServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> MockSlackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MockSlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    # --- behaviour and assertions ------------------------------------------------------

    def fail(self, method: str, error: str) -> None:
        """Make ``method`` answer ``{"ok": false, "error": error}`` from now on."""
        with self._lock:
            self._errors[method] = error

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        """The methods called, in order."""
        with self._lock:
            return [c.method for c in self.calls]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Poll until ``method`` was called at least ``count`` times; AssertionError after
        ``timeout`` seconds. Returns the calls (all of them, maybe more than ``count``)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_to(method)
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert len(found) >= count, (
            f"expected {count} call(s) to {method}, got {len(found)}: {self.methods()}"
        )
        return found

    # --- the HTTP handler --------------------------------------------------------------

    def _record(self, call: Call) -> dict[str, Any]:
        with self._lock:
            self.calls.append(call)
            error = self._errors.get(call.method)
            ts = f"1800000000.{next(self._ts):06d}"
        if error:
            return {"ok": False, "error": error}
        if call.method == "auth.test":
            return {
                "ok": True,
                "url": "https://bpa-test.slack.com/",
                "team": "bpa-test",
                "user": "bpa",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if call.method == "chat.postMessage":
            return {"ok": True, "channel": call.body.get("channel"), "ts": ts, "message": {"ts": ts}}
        if call.method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        return {"ok": True}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                call = Call(
                    method=_method_of(path),
                    path=path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=_parse_body(raw, self.headers.get("Content-Type") or ""),
                )
                result = mock._record(call)
                if call.method.startswith("response:"):  # webhooks answer plain "ok"
                    status, payload, ctype = 200, b"ok", "text/plain"
                else:
                    status, payload, ctype = 200, json.dumps(result).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _method_of(path: str) -> str:
    if path.startswith("/api/"):
        return path.removeprefix("/api/")
    if path.startswith("/response/"):
        return "response:" + path.removeprefix("/response/")
    return path


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"_": parsed}
    body: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for key in _JSON_FIELDS:
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body
