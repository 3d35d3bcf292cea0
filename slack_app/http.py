"""HTTP mode: ``POST /slack/events`` on an existing FastAPI app (events, the slash
command and interactivity all arrive there; Slack's signature is checked by Bolt)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from assistant.protocol import AssistantService
from slack_app.app import build_app

if TYPE_CHECKING:
    from assistant import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def mount(
    fastapi_app: FastAPI, assistant: AssistantService, settings: Settings, *, path: str = EVENTS_PATH
) -> bool:
    """Add the Slack endpoint to ``fastapi_app``; False (and nothing added) when
    SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN is unset.

    The Bolt app is stored as ``fastapi_app.state.slack_bolt_app``. auth.test is made on
    the first Slack request, not here, so the web server starts even when Slack is down.
    """
    if not settings.slack_signing_secret or not settings.slack_bot_token:
        log.info("Slack disabled: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are both needed for HTTP mode")
        return False
    bolt_app = build_app(assistant, settings, token_verification=False)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        # Bolt's dispatch is synchronous (it only acks; answers run in lazy listeners):
        # keep it off the event loop anyway, as the first call also makes auth.test.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    fastapi_app.add_api_route(path, slack_events, methods=["POST"], include_in_schema=False)
    fastapi_app.state.slack_bolt_app = bolt_app
    return True
