"""HTTP mode: ``POST /slack/events`` on an existing FastAPI app (events, the slash
command and interactivity all arrive there).

The signature and the body are checked here before Bolt sees them (see
``slack_app.inbound``): a forged or malformed request is a 401 or a 400 in the API's error
shape, never an exception inside Bolt."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from slack_bolt import BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.concurrency import run_in_threadpool

from assistant.http.errors import error_response
from assistant.protocol import AssistantService
from slack_app.app import build_app
from slack_app.inbound import SlackRequestRefused, check_body, verify_signature

if TYPE_CHECKING:
    from index.settings import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def mount(fastapi_app: FastAPI, assistant: AssistantService, settings: Settings, *, path: str = EVENTS_PATH) -> bool:
    """Add the Slack endpoint to ``fastapi_app``; False (and nothing added) when
    SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN is unset.

    The Bolt app is stored as ``fastapi_app.state.slack_bolt_app``. auth.test is made on
    the first Slack request, not here, so the web server starts even when Slack is down.
    """
    if not settings.slack_signing_secret or not settings.slack_bot_token:
        log.info("Slack disabled: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are both needed for HTTP mode")
        return False
    bolt_app = build_app(assistant, settings, token_verification=False)
    secret = settings.slack_signing_secret

    async def slack_events(request: Request) -> Response:
        raw = await request.body()
        # Checking and dispatching are synchronous and CPU-bound (an HMAC, a JSON parse, and
        # Bolt, which only acks but makes auth.test on its first call): off the event loop.
        try:
            bolt_request = await run_in_threadpool(_checked_request, request, raw, secret)
        except SlackRequestRefused as e:
            log.info("Slack request refused (%s): %s", e.status, e.message)
            return error_response(e.status, e.code, e.message)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    fastapi_app.add_api_route(path, slack_events, methods=["POST"], include_in_schema=False)
    fastapi_app.state.slack_bolt_app = bolt_app
    return True


def _checked_request(request: Request, raw: bytes, secret: str) -> BoltRequest:
    """The Bolt request for a signed, well-formed body; SlackRequestRefused otherwise."""
    headers = request.headers
    verify_signature(secret, raw, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"))
    text = check_body(raw, headers.get("content-type"))
    try:
        # Bolt reads ids out of nested fields as it builds the request's context.
        return BoltRequest(body=text, query=request.url.query, headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        raise SlackRequestRefused(
            400, "malformed_slack_request", "Requisição do Slack com formato inesperado."
        ) from None
