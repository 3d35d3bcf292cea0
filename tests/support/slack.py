"""A local stand-in for Slack's Web API (and for response_url webhooks), for tests.

Built on the stand-in server of ``standins`` (so it shares its lifecycle, request log
and HTTP-level faults: ``slack.fail(r"chat\\.postMessage", status=429, retry_after="1")``).
It records every call and answers ``{"ok": true, ...}``. Point a WebClient at
``server.api_url`` (``Settings.slack_api_url``) and response URLs at
``server.response_url(name)``; then assert on ``server.calls``.

    with MockSlackServer() as slack:
        ...
        [post] = slack.wait_for("chat.postMessage")
        assert post.body["thread_ts"] == "1700000000.000100"
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.support.standins import Request, Response, StandinServer

SIGNING_SECRET = "test-signing-secret"


def signature_headers(body: str | bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 of "v0:<timestamp>:<body>"."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


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


class MockSlackServer(StandinServer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self._errors: dict[str, str] = {}
        self._ts = itertools.count(1)

    # --- addresses ---------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    # --- behaviour and assertions ------------------------------------------------------

    def api_error(self, method: str, error: str) -> None:
        """Make ``method`` answer ``{"ok": false, "error": error}`` (HTTP 200) from now on."""
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
        assert len(found) >= count, f"expected {count} call(s) to {method}, got {len(found)}: {self.methods()}"
        return found

    # --- serving -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        call = Call(
            method=_method_of(request.path),
            path=request.path,
            headers=request.headers,
            body=_parse_body(request.body.decode("utf-8"), request.headers.get("content-type") or ""),
        )
        result = self._record(call)
        if call.method.startswith("response:"):  # webhooks answer plain "ok"
            return Response(200, b"ok", "text/plain")
        return Response.json(result)

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
