"""Socket Mode: the same Bolt app over a WebSocket Slack opens to us (no public URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode import SocketModeHandler

from assistant.protocol import AssistantService
from slack_app.app import SlackConfigError, build_app

if TYPE_CHECKING:
    from index.settings import Settings


def run_socket_mode(assistant: AssistantService, settings: Settings) -> None:
    """Connect to Slack and answer until interrupted (blocks the calling thread)."""
    missing = [
        name
        for name, value in (
            ("SLACK_APP_TOKEN", settings.slack_app_token),
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
        )
        if not value
    ]
    if missing:
        raise SlackConfigError(
            f"Socket Mode precisa de {' e '.join(missing)}: o token do app (xapp-…, com o escopo "
            "connections:write) e o token do bot (xoxb-…)."
        )
    app = build_app(assistant, settings, token_verification=True)
    SocketModeHandler(app, app_token=settings.slack_app_token).start()
