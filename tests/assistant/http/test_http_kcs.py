"""POST /v1/links and /v1/flags on a real assistant and state store (SQLite and PostgreSQL):
what is recorded, the replay that writes nothing, and every bad input refused in the error
shape with nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assistant.http import create_app
from assistant.service import Assistant
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest

KEY = "chave-de-teste"
HEADERS = {"X-API-Key": KEY, "X-BPA-Channel": "zendesk"}


@dataclass
class Served:
    client: TestClient
    assistant: Assistant
    snapshot: str
    hits: list[dict[str, object]]

    def rows(self) -> tuple[int, int, int]:
        state = self.assistant.state
        return len(state.ticket_views()), len(state.ticket_links()), len(state.section_flags())


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Served]:
    update: dict[str, object] = {"api_keys": [KEY], "rate_limit_per_minute": 1000}
    if request.param == "postgresql":
        update["state_url"] = request.getfixturevalue("postgres_url")
    settings = settings.model_copy(update=update)
    embedder = FakeEmbedder()
    assert run_ingest(settings, embedder).ok
    assistant = Assistant(settings, embedder)
    with TestClient(create_app(settings, assistant)) as client:
        suggestion = client.post(
            "/v1/suggest", json={"subject": "cliente parado sem retorno", "ticket_id": "777"}, headers=HEADERS
        )
        assert suggestion.status_code == 200, suggestion.text
        body = suggestion.json()
        yield Served(client, assistant, body["snapshot"], body["results"])


def link(served: Served, **overrides: object) -> dict[str, object]:
    hit = served.hits[0]
    body: dict[str, object] = {"ticket_id": "777", "chunk_id": hit["chunk_id"], "snapshot": served.snapshot}
    body["action"] = "link"
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def assert_error(response, status: int, code: str, field: str | None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (code, field)
    assert error["message"] and "Traceback" not in error["message"]


def test_suggest_on_a_ticket_records_the_open_and_names_its_snapshot(served: Served) -> None:
    assert served.snapshot == served.assistant.snapshot_id
    [view] = served.assistant.state.ticket_views()
    assert (view["ticket_id"], view["opens"], view["channel"]) == ("777", 1, "zendesk")
    served.client.post("/v1/suggest", json={"subject": "cliente parado", "ticket_id": "777"}, headers=HEADERS)
    served.client.post("/v1/suggest", json={"subject": "cliente parado"}, headers=HEADERS)  # no ticket: not counted
    [view] = served.assistant.state.ticket_views()
    assert view["opens"] == 2


def test_a_link_is_recorded_once_and_a_replay_gets_the_same_answer(served: Served) -> None:
    first = served.client.post("/v1/links", json=link(served), headers=HEADERS)
    assert first.status_code == 201, first.text
    receipt = first.json()
    assert receipt["target"]["chunk_id"] == served.hits[0]["chunk_id"]
    assert receipt["target"]["url"] == served.hits[0]["url"] and receipt["quote"] is None
    replay = served.client.post("/v1/links", json=link(served), headers=HEADERS)
    assert (replay.status_code, replay.json()) == (201, receipt)
    assert served.rows() == (1, 1, 0)
    # A quote of the same section is another action: recorded, with the section's text masked.
    quote = served.client.post("/v1/links", json=link(served, action="quote"), headers=HEADERS)
    assert quote.status_code == 201 and quote.json()["quote"]
    assert served.rows() == (1, 2, 0)
    [row, _] = served.assistant.state.ticket_links()
    assert (row["ticket_id"], row["action"], row["channel"], row["snapshot"]) == (
        "777", "link", "zendesk", served.snapshot
    )  # fmt: skip


def test_a_quote_is_the_cited_excerpt_verbatim_or_refused(served: Served) -> None:
    text = str(served.hits[0]["text"])
    excerpt = " ".join(text.split()[:8])
    ok = served.client.post("/v1/links", json=link(served, action="quote", excerpt=excerpt), headers=HEADERS)
    assert ok.status_code == 201 and ok.json()["quote"] == excerpt
    made_up = link(served, action="quote", excerpt="Um texto que a seção não tem.", ticket_id="778")
    assert_error(served.client.post("/v1/links", json=made_up, headers=HEADERS), 422, "excerpt_mismatch", "excerpt")
    assert served.rows() == (1, 1, 0)


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"chunk_id": "nao-existe:0001"}, 404, "unknown_section", "chunk_id"),
        ({"snapshot": "20200101T000000-velho"}, 409, "stale_snapshot", "snapshot"),
        ({"ticket_id": None}, 422, "invalid_request", "ticket_id"),
        ({"ticket_id": ""}, 422, "invalid_request", "ticket_id"),
        ({"ticket_id": "12 34<script>"}, 422, "invalid_request", "ticket_id"),
        ({"ticket_id": "9" * 65}, 422, "invalid_request", "ticket_id"),
        ({"ticket_id": 777}, 422, "invalid_request", "ticket_id"),
        ({"chunk_id": "x" * 10_000}, 422, "invalid_request", "chunk_id"),
        ({"action": "compartilhar"}, 422, "invalid_request", "action"),
        ({"excerpt": "x" * 10_000, "action": "quote"}, 422, "invalid_request", "excerpt"),
        ({"extra": "campo"}, 422, "invalid_request", "extra"),
    ],
)
def test_bad_links_are_refused_and_nothing_is_written(
    served: Served, overrides: dict[str, object], status: int, code: str, field: str
) -> None:
    body = link(served, **{k: v for k, v in overrides.items() if v is not None})
    if "ticket_id" in overrides and overrides["ticket_id"] is None:
        del body["ticket_id"]
    response = served.client.post("/v1/links", json=body, headers=HEADERS)
    assert_error(response, status, code, field)
    assert served.rows() == (1, 0, 0)


def test_error_messages_name_the_problem_in_portuguese(served: Served) -> None:
    missing = served.client.post("/v1/links", json={k: v for k, v in link(served).items() if k != "ticket_id"},
                                 headers=HEADERS)  # fmt: skip
    assert missing.json()["error"]["message"] == "O campo 'ticket_id' é obrigatório."
    action = served.client.post("/v1/links", json=link(served, action="x"), headers=HEADERS)
    assert action.json()["error"]["message"] == "O campo 'action' deve ser um destes valores: 'link' ou 'quote'."
    stale = served.client.post("/v1/links", json=link(served, snapshot="velho"), headers=HEADERS)
    assert "não está mais disponível" in stale.json()["error"]["message"]


def flag(served: Served, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"chunk_id": served.hits[1]["chunk_id"], "snapshot": served.snapshot}
    body.update({"reason": "desatualizado", "comment": None, "ticket_id": "777", "request_id": "req-1"})
    body.update(overrides)
    return body


def test_a_flag_is_recorded_masked_once_per_request(served: Served) -> None:
    body = flag(served, comment="Mudou em 2024; falei com maria@cliente.com.br")
    first = served.client.post("/v1/flags", json=body, headers=HEADERS)
    assert first.status_code == 201, first.text
    replay = served.client.post("/v1/flags", json=body, headers=HEADERS)
    assert replay.json() == first.json()
    assert served.rows() == (1, 0, 1)
    [row] = served.assistant.state.section_flags()
    assert row["comment"] == "Mudou em 2024; falei com [EMAIL]" and row["reason"] == "desatualizado"
    # Another request (a new form) is another flag; without a request id the content is the key.
    served.client.post("/v1/flags", json=flag(served, request_id="req-2"), headers=HEADERS)
    for _ in range(2):
        no_id = flag(served, request_id=None, reason="outro", comment="texto")
        assert served.client.post("/v1/flags", json=no_id, headers=HEADERS).status_code == 201
    assert served.rows() == (1, 0, 3)


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"comment": "x" * 10_000}, 422, "invalid_request", "comment"),
        ({"comment": "x" * 501}, 422, "invalid_request", "comment"),
        ({"reason": "chato"}, 422, "invalid_request", "reason"),
        ({"reason": None}, 422, "invalid_request", "reason"),
        ({"chunk_id": "nao-existe:0001"}, 404, "unknown_section", "chunk_id"),
        ({"snapshot": "velho"}, 409, "stale_snapshot", "snapshot"),
        ({"ticket_id": "a b"}, 422, "invalid_request", "ticket_id"),
        ({"request_id": "r" * 65}, 422, "invalid_request", "request_id"),
    ],
)
def test_bad_flags_are_refused_and_nothing_is_written(
    served: Served, overrides: dict[str, object], status: int, code: str, field: str
) -> None:
    body = flag(served, **overrides)
    if body.get("reason") is None:
        del body["reason"]
    assert_error(served.client.post("/v1/flags", json=body, headers=HEADERS), status, code, field)
    assert served.rows() == (1, 0, 0)


def test_links_and_flags_are_rate_limited_like_feedback(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"rate_limit_per_minute": 3})
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    assistant = Assistant(settings, embedder)
    with TestClient(create_app(settings, assistant)) as client:
        hit = client.post("/v1/suggest", json={"subject": "cliente parado", "ticket_id": "1"}).json()
        body = {"ticket_id": "1", "chunk_id": hit["results"][0]["chunk_id"], "snapshot": hit["snapshot"]}
        assert client.post("/v1/links", json={**body, "action": "link"}).status_code == 201
        assert client.post("/v1/flags", json={**body, "reason": "incorreto"}).status_code == 201
        limited = client.post("/v1/links", json={**body, "action": "quote"})
        assert_error(limited, 429, "rate_limited", None)
        assert limited.headers["Retry-After"]
    assert len(assistant.state.ticket_links()) == 1
