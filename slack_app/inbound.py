"""Checks on a request to ``/slack/events`` before Bolt sees it.

Bolt verifies the signature and parses the body, but it raises (and logs a traceback)
on a timestamp that is not an integer and on bodies Slack would never send; its routing
and our listeners also index into the payload on the assumption that Slack shaped it.
So the HTTP edge checks, in this order, and refuses with :class:`SlackRequestRefused`:

1. the signature, over the raw bytes (nothing of an unsigned body is parsed): 401;
2. the body: UTF-8, parsed by Bolt's own rules, a JSON object: 400;
3. the shape of the fields Bolt's routing and our listeners read, and the fields a slash
   command or a button click must carry: 400.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Annotated, Any, NotRequired

from pydantic import Field, TypeAdapter, ValidationError
from slack_bolt.request.internals import parse_body
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from index.errors import BpaError

# Slack's replay window: a request signed longer ago than this is refused.
MAX_CLOCK_SKEW_SECONDS = 5 * 60
# A Unix time in seconds; the bound keeps int() and the clock comparison trivial.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SlackRequestRefused(BpaError):
    """A request that did not come from Slack (401) or that Slack would not send (400);
    ``message`` is pt-BR."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unauthorized(message: str) -> SlackRequestRefused:
    return SlackRequestRefused(401, "invalid_slack_signature", message)


def _malformed(message: str) -> SlackRequestRefused:
    return SlackRequestRefused(400, "malformed_slack_request", message)


def verify_signature(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> None:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret.

    Computed over the bytes (slack_sdk's verifier decodes the body first, which raises on
    invalid UTF-8).
    """
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise _unauthorized("Cabeçalho X-Slack-Request-Timestamp ausente ou inválido.")
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise _unauthorized("Requisição do Slack fora da janela de 5 minutos (X-Slack-Request-Timestamp).")
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    given = (signature or "").encode("utf-8", "replace")
    if not hmac.compare_digest(b"v0=" + expected.hexdigest().encode(), given):
        raise _unauthorized("Assinatura do Slack (X-Slack-Signature) ausente ou inválida.")


# --- the shapes read downstream ----------------------------------------------------------
# Only the fields that Bolt's routing or our listeners read; anything else passes as is.


# Where bpa posts its answer (Bolt's respond()); Slack sends https://hooks.slack.com/...
_Url = Annotated[str, Field(pattern=r"^https?://[^/\s]+")]


class _Ref(TypedDict, total=False):  # {"id": "U123", ...}: a user, channel or team
    id: str


class _Element(TypedDict, total=False):
    action_id: str


class _Block(TypedDict, total=False):
    type: str
    block_id: str
    elements: list[_Element]


class _Message(TypedDict, total=False):
    text: str
    blocks: list[_Block]


class _Event(TypedDict, total=False):
    type: str
    user: str | _Ref
    channel: str | _Ref
    ts: str
    thread_ts: str
    text: str


class _Action(TypedDict, total=False):
    action_id: str
    value: str


class _Container(TypedDict, total=False):
    channel_id: str


class _ResponseUrl(TypedDict, total=False):
    response_url: _Url


class _Payload(TypedDict, total=False):
    type: str
    event_id: str
    event: _Event
    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: _Url
    response_urls: list[_ResponseUrl]
    user: str | _Ref
    channel: str | _Ref
    team: str | _Ref | None
    enterprise: str | _Ref | None
    authorizations: list[dict[str, Any]]
    container: _Container
    message: _Message
    view: dict[str, Any]
    actions: Annotated[list[_Action], Field(min_length=1)]


class _Id(TypedDict):
    id: str


class _Command(TypedDict):
    """A slash command: Slack always sends these fields, and the listener needs them."""

    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: _Url


class _Clicked(TypedDict):
    action_id: str
    value: NotRequired[str]


class _BlockActions(TypedDict):
    """A button click: bpa's buttons live in messages, whose payloads carry a response_url."""

    user: _Id
    response_url: _Url
    actions: Annotated[list[_Clicked], Field(min_length=1)]


_PAYLOAD = TypeAdapter(_Payload)
_COMMAND = TypeAdapter(_Command)
_BLOCK_ACTIONS = TypeAdapter(_BlockActions)


def check_body(raw: bytes, content_type: str | None) -> str:
    """The body as text, once it is known to be a Slack payload Bolt can route."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _malformed(f"O corpo da requisição do Slack não é UTF-8 válido (byte {e.start}).") from None
    media_type = content_type.split(";")[0] if content_type else None  # as Bolt reads it
    is_json = media_type == "application/json" or text.startswith("{")  # Bolt's own rule
    what = "O corpo da requisição do Slack" if is_json or "payload" not in text else "O campo 'payload'"
    try:
        body = parse_body(text, media_type)
    except (ValueError, RecursionError):
        raise _malformed(f"{what} não é um JSON válido.") from None
    if not isinstance(body, dict):
        raise _malformed(f"{what} deve ser um objeto JSON.")
    try:
        _PAYLOAD.validate_python(body)
        if "command" in body:  # Bolt's own test for a slash command
            _COMMAND.validate_python(body)
        if body.get("type") == "block_actions":
            _BLOCK_ACTIONS.validate_python(body)
    except ValidationError as e:
        raise _malformed(f"Requisição do Slack com formato inesperado: {_describe(e)}.") from None
    return text


def _describe(error: ValidationError) -> str:
    """'event.user' must be ...: the first problem, by field path (never the value)."""
    first = error.errors(include_url=False, include_input=False)[0]
    path = ".".join(str(part) for part in first["loc"] if not _is_union_tag(part))
    return f"campo '{path}' inválido" if path else "não é um objeto JSON"


def _is_union_tag(part: Any) -> bool:
    # pydantic names the union member tried ('str', '_Ref'); not part of the field path
    return isinstance(part, str) and (part in {"str", "none"} or part.startswith("_"))
