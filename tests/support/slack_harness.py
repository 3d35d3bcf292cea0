"""Helpers of the Slack bot tests: a harness posting correctly signed requests to the API
app with the bot mounted (the assistant is ``fake_assistant.FakeAssistant``), and builders
of Slack events and Block Kit assertions."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App
from starlette.testclient import TestClient

from assistant.http.app import create_app
from assistant.types import Citation
from index.settings import Settings
from slack_app import mount
from tests.support.fake_assistant import FakeAssistant
from tests.support.slack import MockSlackServer, signature_headers

SIGNING_SECRET = "test-signing-secret"  # slack_mock.signature_headers signs with it by default
BOT_TOKEN = "xoxb-test-token"
# How the Slack blocks link fake_assistant.CITATIONS (and its abstention's suggestions).
SOURCE_1 = (
    "<http://127.0.0.1:8000/d/boas-praticas-do-suporte#cliente-parado"
    "|Boas práticas do suporte › Atendimento › Cliente parado>"
)
SOURCE_2 = (
    "<https://tdn.totvs.com/pages/viewpage.action?pageId=123456#interacoes-publicas"
    "|Interações públicas › Atendimento › Interações públicas>"
)


def citation(n: int, **overrides: Any) -> Citation:
    values: dict[str, Any] = {
        "n": n,
        "title": f"Documento {n}",
        "section": f"Documento {n} › Seção {n}",
        "url": f"https://docs.example.com/doc{n}#secao-{n}",
        "excerpt": f"Trecho citado número {n} da documentação.",
        "score": 0.9 - n / 10,
        "document_id": f"doc{n}",
        "chunk_id": f"doc{n}-c{n}",
    }
    values.update(overrides)
    return Citation(**values)


class SlackHarness:
    """The FastAPI app with the bot mounted, plus signed-request helpers."""

    def __init__(self, assistant: FakeAssistant, settings: Settings, slack: MockSlackServer) -> None:
        self.assistant = assistant
        self.slack = slack
        # The production composition: the API app, with the bot mounted on it.
        self.web = create_app(settings, assistant)
        assert mount(self.web, assistant, settings) is True
        self.bolt: App = self.web.state.slack_bolt_app
        self.client = TestClient(self.web)
        self._ids = 0

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            **signature_headers(body, secret, ts),
            **(headers or {}),
        }
        content = body.encode() if isinstance(body, str) else body
        return self.client.post("/slack/events", content=content, headers=all_headers)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **kwargs: Any) -> Any:
        self._ids += 1
        envelope = {
            "token": "legacy",
            "team_id": "T0000TEST",
            "api_app_id": "A0000TEST",
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._ids:06d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return self.post(json.dumps(envelope), "application/json", **kwargs)

    def form(self, fields: dict[str, str], **kwargs: Any) -> Any:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        return self.form({"payload": json.dumps(payload)}, **kwargs)

    def settle(self) -> None:
        """Wait until every lazy listener started so far has finished (ends the app)."""
        self.bolt.listener_runner.listener_executor.shutdown(wait=True)


def mention(text: str = "<@UBOT0001> como abrir um chamado?", **overrides: Any) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": "UASKER01",
        "text": text,
        "ts": "1700000000.000100",
        "channel": "CGENERAL1",
        "event_ts": "1700000000.000100",
    }
    event.update(overrides)
    return event


def direct_message(text: str = "como abrir um chamado?", **overrides: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "UASKER01",
        "text": text,
        "ts": "1700000100.000200",
        "channel": "DDIRECT01",
        "event_ts": "1700000100.000200",
    }
    event.update(overrides)
    return event


def block_texts(blocks: list[dict[str, Any]]) -> str:
    """Every text in ``blocks``, joined: for 'contains' assertions."""
    texts: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), dict):
                texts.append(element["text"]["text"])
            elif isinstance(element.get("text"), str):
                texts.append(element["text"])
    return "\n".join(texts)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b.get("type") == "actions" for e in b["elements"]]
