"""build_app, the HTTP mount (also behind a real uvicorn server) and Socket Mode wiring."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import slack_app.socket_mode
from index.settings import Settings
from slack_app import SlackConfigError, build_app, mount, run_socket_mode
from slack_app.app import COMMAND
from slack_app.http import EVENTS_PATH
from tests.support.fake_assistant import FakeAssistant
from tests.support.slack import MockSlackServer
from tests.support.slack_harness import BOT_TOKEN, SlackHarness, mention, signature_headers


def test_build_app_checks_the_token_against_the_configured_api_url(
    slack_settings: Settings, slack: MockSlackServer
) -> None:
    app = build_app(FakeAssistant(), slack_settings)
    [call] = slack.calls_to("auth.test")
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert app.client.base_url == slack.api_url


def test_build_app_explains_a_refused_or_missing_token(slack_settings: Settings, slack: MockSlackServer) -> None:
    slack.api_error("auth.test", "invalid_auth")
    with pytest.raises(SlackConfigError, match="recusou o token"):
        build_app(FakeAssistant(), slack_settings)
    with pytest.raises(SlackConfigError, match="SLACK_BOT_TOKEN"):
        build_app(FakeAssistant(), slack_settings.model_copy(update={"slack_bot_token": None}))


@pytest.mark.parametrize("missing", ["slack_signing_secret", "slack_bot_token"])
def test_mount_is_a_no_op_without_secret_or_token(
    slack_settings: Settings, slack: MockSlackServer, missing: str
) -> None:
    web = FastAPI()
    assert mount(web, FakeAssistant(), slack_settings.model_copy(update={missing: None})) is False
    assert all(getattr(route, "path", None) != "/slack/events" for route in web.routes)
    assert slack.calls == []


def test_mount_makes_no_slack_call_before_the_first_request(slack_settings: Settings, slack: MockSlackServer) -> None:
    harness = SlackHarness(FakeAssistant(), slack_settings, slack)
    assert slack.calls == []  # the server starts even when Slack is unreachable
    harness.event(mention())
    slack.wait_for("chat.postMessage")
    harness.settle()
    assert slack.methods()[0] == "auth.test"


@pytest.fixture
def live_server(slack_settings: Settings) -> Iterator[tuple[str, FakeAssistant]]:
    """The mounted app behind a real uvicorn server on 127.0.0.1."""
    assistant = FakeAssistant()
    web = FastAPI()
    assert mount(web, assistant, slack_settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}", assistant
    server.should_exit = True
    thread.join(timeout=5)
    web.state.slack_bolt_app.listener_runner.listener_executor.shutdown(wait=True)


def test_real_http_server_answers_a_signed_mention(
    live_server: tuple[str, FakeAssistant], slack: MockSlackServer
) -> None:
    base, _ = live_server
    envelope = {"type": "event_callback", "event_id": "EvLIVE1", "team_id": "T0000TEST", "event": mention()}
    body = json.dumps(envelope)
    headers = {"Content-Type": "application/json", **signature_headers(body)}
    response = httpx.post(f"{base}/slack/events", content=body, headers=headers, timeout=5)
    assert response.status_code == 200
    [post] = slack.wait_for("chat.postMessage")
    assert post.body["thread_ts"] == "1700000000.000100"
    assert (
        httpx.post(f"{base}/slack/events", content=body, headers={**headers, "X-Slack-Signature": "v0=00"}).status_code
        == 401
    )


class FakeSocketModeHandler:
    instances: ClassVar[list[FakeSocketModeHandler]] = []

    def __init__(self, app: Any, app_token: str | None = None, **kwargs: Any) -> None:
        self.app, self.app_token, self.started = app, app_token, False
        FakeSocketModeHandler.instances.append(self)

    def start(self) -> None:
        self.started = True


def test_socket_mode_needs_both_tokens(slack_settings: Settings) -> None:
    with pytest.raises(SlackConfigError, match="SLACK_APP_TOKEN"):
        run_socket_mode(FakeAssistant(), slack_settings)
    no_bot = slack_settings.model_copy(update={"slack_app_token": "xapp-1", "slack_bot_token": None})
    with pytest.raises(SlackConfigError, match="SLACK_BOT_TOKEN"):
        run_socket_mode(FakeAssistant(), no_bot)


def test_socket_mode_starts_the_same_app_with_the_app_token(
    slack_settings: Settings, slack: MockSlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_app.socket_mode, "SocketModeHandler", FakeSocketModeHandler)
    FakeSocketModeHandler.instances.clear()
    settings = slack_settings.model_copy(update={"slack_app_token": "xapp-1-test", "slack_signing_secret": None})
    run_socket_mode(FakeAssistant(), settings)
    [handler] = FakeSocketModeHandler.instances
    assert handler.started and handler.app_token == "xapp-1-test"
    assert handler.app.client.base_url == slack.api_url
    assert slack.methods() == ["auth.test"]  # token checked at start


def test_manifest_matches_what_the_app_listens_to() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((Path(slack_app.__file__).parent / "manifest.yaml").read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read",
        "chat:write",
        "im:history",
        "reactions:write",
        "commands",
    }
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention", "message.im"]
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND
    urls = {
        command["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }
    assert urls == {f"https://YOUR-HOST{EVENTS_PATH}"}
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
