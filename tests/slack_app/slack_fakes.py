"""Test doubles and helpers of the Slack bot tests: a fake AssistantService and a harness
posting correctly signed requests to a FastAPI app with the bot mounted."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI
from slack_bolt import App
from starlette.testclient import TestClient

from assistant.errors import InvalidQuestion, NoSnapshotError, UnknownAnswer
from assistant.types import Answer, AnswerLine, Citation, DocumentView, SearchHit, Suggestion
from index.settings import Settings
from slack_app import mount

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests/slack_mock.py

from slack_mock import MockSlackServer

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
ANSWER_TEXT = "Abra o chamado com o log do erro [1]. Informe a versão do sistema [2]."


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


class FakeAssistant:
    """Implements AssistantService; ``mode`` picks the behaviour of ask()."""

    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.asks: list[dict[str, Any]] = []
        self.feedbacks: list[tuple[str, bool, str]] = []
        self.known_answers: set[str] = set()

    @property
    def snapshot_id(self) -> str | None:
        return "snap-1"

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: list[str] | None = None,
        context: str | None = None,
        channel: str = "api",
    ) -> Answer:
        self.asks.append({"question": question, "context": context, "channel": channel})
        if self.mode == "error":
            raise RuntimeError("boom")
        if self.mode == "invalid":
            raise InvalidQuestion("A pergunta precisa ter pelo menos uma palavra.")
        if self.mode == "no_snapshot":
            raise NoSnapshotError("no snapshot")
        answer_id = f"ans-{len(self.asks)}"
        self.known_answers.add(answer_id)
        if self.mode == "pointer":
            return Answer(
                answer_id=answer_id, question=question, abstained=True, confidence=0.4, citations=[],
                answer="A documentação não responde isso diretamente. O mais próximo:",
                suggestions=[citation(3), citation(4)], snapshot="snap-1", latency_ms=12.0, outcome="pointer",
                confidence_label="baixa",
            )  # fmt: skip
        abstained = self.mode == "abstain"
        return Answer(
            answer_id=answer_id,
            question=question,
            answer=""
            if abstained
            else "Abra o chamado com o log do erro [1]. Informe a versão do sistema [2].",
            abstained=abstained,
            confidence=0.2 if abstained else 0.82,
            citations=[] if abstained else [citation(1), citation(2)],
            suggestions=[citation(3), citation(4)] if abstained else [],
            snapshot="snap-1",
            latency_ms=12.0,
            outcome="refusal" if abstained else "answer",
            confidence_label="baixa" if abstained else "alta",
            lines=[]
            if abstained
            else [
                AnswerLine(text="Abra o chamado com o log do erro.", n=1),
                AnswerLine(text="Informe a versão do sistema.", n=2),
            ],
        )

    def search(self, query: str, *, k: int = 5, sources: list[str] | None = None) -> list[SearchHit]:
        return []

    def suggest(self, subject: str, description: str, tags: list[str]) -> Suggestion:
        return Suggestion(results=[])

    def feedback(
        self, answer_id: str, helpful: bool, comment: str | None = None, channel: str = "api"
    ) -> None:
        if answer_id not in self.known_answers:
            raise UnknownAnswer(answer_id)
        self.feedbacks.append((answer_id, helpful, channel))

    def document(self, document_id: str) -> DocumentView:
        raise NotImplementedError


def signature_headers(
    body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 of "v0:<timestamp>:<body>"."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackHarness:
    """The FastAPI app with the bot mounted, plus signed-request helpers."""

    def __init__(self, assistant: FakeAssistant, settings: Settings, slack: MockSlackServer) -> None:
        self.assistant = assistant
        self.slack = slack
        self.web = FastAPI()
        assert mount(self.web, assistant, settings) is True
        self.bolt: App = self.web.state.slack_bolt_app
        self.client = TestClient(self.web)
        self._ids = 0

    def post(
        self,
        body: str,
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
        return self.client.post("/slack/events", content=body.encode(), headers=all_headers)

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
