"""Forged and malformed requests to /slack/events (issue 10, item 5): a bad signature or
timestamp is a 401, a signed body Slack would never send is a 400, both in the API's
error shape with a pt-BR message; never a 500, never a traceback in the log, and Bolt
never sees them."""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from slack_app import blocks
from tests.support.slack import MockSlackServer
from tests.support.slack_harness import SlackHarness, mention, signature_headers

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, f"{record.name}: {record.getMessage()}"
        assert "Traceback" not in record.getMessage(), record.name
        assert record.levelno < logging.ERROR, f"{record.name}: {record.getMessage()}"


def assert_refused(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    assert "Slack" in error["message"] or "'payload'" in error["message"]
    return str(error["message"])


# --- 401: not signed by Slack ------------------------------------------------------------


def post_raw(harness: SlackHarness, body: bytes, headers: dict[str, str]) -> Any:
    """POST with the header values sent as UTF-8 bytes (some cases are not ASCII)."""
    encoded = {name.encode(): value.encode() for name, value in {"Content-Type": JSON, **headers}.items()}
    return harness.client.post("/slack/events", content=body, headers=encoded)


BODY = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": mention()}).encode()


@pytest.mark.parametrize("timestamp", ["abc", "1.5", "9" * 400, "-1700000000", " 1700000000", "١٧٠٠٠٠٠٠٠٠", ""])
def test_a_timestamp_that_is_not_unix_seconds_is_401(
    harness: SlackHarness, slack: MockSlackServer, logs: pytest.LogCaptureFixture, timestamp: str
) -> None:
    response = post_raw(harness, BODY, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=00"})
    message = assert_refused(response, 401, "invalid_slack_signature")
    assert "X-Slack-Request-Timestamp" in message
    assert_no_traceback(logs)
    assert slack.calls == []  # Bolt never ran (its first request makes auth.test)


def _now() -> str:
    return str(int(time.time()))


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "X-Slack-Request-Timestamp"),
        ({"X-Slack-Request-Timestamp": "now"}, "X-Slack-Signature"),
        ({"X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=00"}, "X-Slack-Signature"),
        ({"X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=" + "é" * 64}, "X-Slack-Signature"),
        (signature_headers(BODY, timestamp=int(time.time()) - 600), "janela de 5 minutos"),
    ],
    ids=["no-headers", "no-signature", "wrong-signature", "non-ascii-signature", "signed-too-long-ago"],
)
def test_a_missing_wrong_or_stale_signature_is_401(
    harness: SlackHarness,
    slack: MockSlackServer,
    logs: pytest.LogCaptureFixture,
    headers: dict[str, str],
    says: str,
) -> None:
    headers = {name: _now() if value == "now" else value for name, value in headers.items()}
    assert says in assert_refused(post_raw(harness, BODY, headers), 401, "invalid_slack_signature")
    assert_no_traceback(logs)
    assert slack.calls == []


def test_an_unsigned_malformed_body_is_401_not_parsed(
    harness: SlackHarness, slack: MockSlackServer, logs: pytest.LogCaptureFixture
) -> None:
    response = post_raw(harness, b"\xff not json", signature_headers(b"{}"))  # another body's signature
    assert_refused(response, 401, "invalid_slack_signature")
    assert_no_traceback(logs)
    assert slack.calls == []


# --- 400: signed, but not something Slack sends ------------------------------------------

MALFORMED: list[tuple[str, bytes, str, str]] = [
    ("non-json", b"isto nao e json", JSON, "não é um JSON válido"),
    ("json-list", b"[1, 2]", JSON, "deve ser um objeto JSON"),
    ("json-string", b'"texto"', JSON, "deve ser um objeto JSON"),
    ("invalid-utf8", b'{"type": "event_callback", "x": "\xff\xfe"}', JSON, "UTF-8"),
    ("invalid-utf8-form", b"payload=%7B%7D&x=\xc3\x28", FORM, "UTF-8"),
    ("deep-nesting", b"[" * 100_000, JSON, "não é um JSON válido"),
    ("payload-not-json", b"payload=isto-nao-e-json", FORM, "'payload' não é um JSON válido"),
    ("payload-list", b"payload=" + quote("[1]").encode(), FORM, "'payload' deve ser um objeto JSON"),
    (
        "event-not-object",
        json.dumps({"type": "event_callback", "event_id": "Ev1", "event": "app_mention"}).encode(),
        JSON,
        "'event'",
    ),
    (
        "event-user-number",
        json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {**mention(), "user": 7}}).encode(),
        JSON,
        "'event.user'",
    ),
    (
        "view-not-object",
        json.dumps({"type": "view_submission", "view": None}).encode(),
        JSON,
        "'view'",
    ),
    (
        "click-without-actions",
        b"payload=" + quote(json.dumps({"type": "block_actions", "actions": []})).encode(),
        FORM,
        "'actions'",
    ),
    (
        "click-without-action-id",
        b"payload="
        + quote(
            json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": "U1"},
                    "response_url": "https://hooks.slack.com/x",
                    "actions": [{"value": "ans-1"}],
                }
            )
        ).encode(),
        FORM,
        "'actions.0.action_id'",
    ),
    (
        "command-without-response-url",
        urlencode({"command": "/boaspraticas", "text": "oi", "user_id": "U1", "channel_id": "C1"}).encode(),
        FORM,
        "'response_url'",
    ),
    (
        "command-text-not-string",
        json.dumps(
            {
                "command": "/boaspraticas",
                "text": 5,
                "user_id": "U1",
                "channel_id": "C1",
                "response_url": "https://hooks.slack.com/x",
            }
        ).encode(),
        JSON,
        "'text'",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "says"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_signed_malformed_body_is_400(
    harness: SlackHarness,
    slack: MockSlackServer,
    logs: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    says: str,
) -> None:
    response = harness.post(body, content_type)
    assert says in assert_refused(response, 400, "malformed_slack_request")
    assert_no_traceback(logs)
    assert slack.calls == []


def test_a_mention_without_channel_is_ignored_quietly(
    harness: SlackHarness, slack: MockSlackServer, logs: pytest.LogCaptureFixture
) -> None:
    event = mention()
    del event["channel"]
    assert harness.event(event).status_code == 200
    harness.settle()
    assert "chat.postMessage" not in slack.methods()
    assert_no_traceback(logs)


# --- a bounded property check -------------------------------------------------------------


def _samples(slack: MockSlackServer, n: int, seed: int = 10) -> list[dict[str, Any]]:
    """``n`` well-formed payloads, each with one to three nested values replaced by random
    JSON values or removed (a fixed seed: the same cases on every run)."""
    rng = random.Random(seed)
    url = slack.response_url("fuzz")
    click = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "channel": {"id": "C1"},
        "container": {"channel_id": "C1"},
        "response_url": url,
        "actions": [{"action_id": blocks.FEEDBACK_HELPFUL, "block_id": blocks.ACTIONS_BLOCK_ID, "value": "x"}],
        "message": {"text": "x", "blocks": [{"type": "actions", "block_id": blocks.ACTIONS_BLOCK_ID}]},
    }
    command = {"command": "/boaspraticas", "text": "oi", "user_id": "U1", "channel_id": "C1", "response_url": url}
    bases: list[dict[str, Any]] = [{"type": "event_callback", "event": mention()}, click, command]
    junk: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"id": 1}, [{}], url]
    out: list[dict[str, Any]] = []
    for i in range(n):
        payload: dict[str, Any] = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            node: Any = payload
            while True:
                keys = list(node) if isinstance(node, dict) else list(range(len(node)))
                if not keys:
                    break
                key = rng.choice(keys)
                if isinstance(node[key], dict | list) and node[key] and rng.random() < 0.5:
                    node = node[key]
                    continue
                if isinstance(node, dict) and rng.random() < 0.3:
                    del node[key]
                else:
                    node[key] = copy.deepcopy(rng.choice(junk))
                break
        if isinstance(payload.get("event"), dict):
            payload["event_id"] = f"EvFuzz{i}"  # not a duplicate of an earlier case
        out.append(payload)
    return out


def test_signed_payloads_with_random_damage_never_give_500_or_a_traceback(
    harness: SlackHarness, slack: MockSlackServer, logs: pytest.LogCaptureFixture
) -> None:
    statuses = set()
    for payload in _samples(slack, 150):
        as_form = "command" not in payload and payload.get("type") == "block_actions"
        body = urlencode({"payload": json.dumps(payload)}) if as_form else json.dumps(payload)
        response = harness.post(body, FORM if as_form else JSON)
        assert response.status_code < 500, (payload, response.text)
        if response.status_code >= 400 and response.status_code != 404:  # 404: Bolt's "unhandled"
            assert set(response.json()["error"]) == {"code", "message"}
        statuses.add(response.status_code)
    harness.settle()  # lazy listeners must not log tracebacks either
    assert_no_traceback(logs)
    assert {200, 400} <= statuses  # both damaged and still-usable payloads were tried
