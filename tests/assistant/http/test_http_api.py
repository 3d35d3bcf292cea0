"""The /v1 routes: success paths and the error shape of every bad input."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from assistant.http import create_app
from index.settings import Settings
from tests.support.fake_assistant import CHECKLIST, CITATIONS, DOCUMENT_ID, SNAPSHOT_ID, FakeAssistant


@pytest.fixture
def fake() -> FakeAssistant:
    return FakeAssistant()


@pytest.fixture
def client(settings: Settings, fake: FakeAssistant) -> TestClient:
    return TestClient(create_app(settings, fake))


def assert_error(response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field
        assert field in body["error"]["message"]
    return body["error"]["message"]


# --- /v1/ask --------------------------------------------------------------------------


def test_ask_returns_answer_with_citations(client: TestClient, fake: FakeAssistant) -> None:
    response = client.post("/v1/ask", json={"question": "  cliente parado, o que faço?  ", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "answer_id",
        "answer",
        "abstained",
        "confidence",
        "citations",
        "suggestions",
        "snapshot",
        "latency_ms",
        "outcome",
        "confidence_label",
        "lines",
    }
    assert body["abstained"] is False
    assert body["snapshot"] == SNAPSHOT_ID
    assert [c["url"] for c in body["citations"]] == [c.url for c in CITATIONS]
    assert set(body["citations"][0]) == {
        "n",
        "title",
        "section",
        "url",
        "excerpt",
        "score",
        "document_id",
        "chunk_id",
        "also_in",
    }
    call = fake.asks[-1]
    assert (call.question, call.top_k, call.sources, call.channel) == (
        "cliente parado, o que faço?",
        3,
        None,
        "api",
    )


def test_ask_passes_sources_and_channel(client: TestClient, fake: FakeAssistant) -> None:
    response = client.post(
        "/v1/ask", json={"question": "pergunta", "sources": ["tdn"]}, headers={"X-BPA-Channel": "web"}
    )
    assert response.status_code == 200
    assert fake.asks[-1].sources == ["tdn"]
    assert fake.asks[-1].channel == "web"


def test_ask_unknown_channel_falls_back_to_api(client: TestClient, fake: FakeAssistant) -> None:
    client.post("/v1/ask", json={"question": "pergunta"}, headers={"X-BPA-Channel": "slack"})
    assert fake.asks[-1].channel == "api"


def test_ask_abstention_carries_suggestions(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": "qual o preço da licença?"}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert [s["url"] for s in body["suggestions"]] == [c.url for c in CITATIONS]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"question": ""}, "invalid_question", "question"),
        ({"question": "   \n\t "}, "invalid_question", "question"),
        ({"question": "x" * 2001}, "question_too_long", "question"),
        ({"question": "ok", "extra": 1}, "invalid_request", "extra"),
        ({"question": 42}, "invalid_request", "question"),
        ({"question": ["a"]}, "invalid_request", "question"),
        ({"question": "ok", "top_k": "5"}, "invalid_request", "top_k"),
        ({"question": "ok", "top_k": 0}, "invalid_request", "top_k"),
        ({"question": "ok", "top_k": 21}, "invalid_request", "top_k"),
        ({"question": "ok", "top_k": True}, "invalid_request", "top_k"),
        ({"question": "ok", "sources": "tdn"}, "invalid_request", "sources"),
        ({}, "invalid_request", "question"),
    ],
)
def test_ask_bad_input_is_422_naming_the_field(client: TestClient, payload: dict, code: str, field: str) -> None:
    assert_error(client.post("/v1/ask", json=payload), 422, code, field)


def test_ask_limit_follows_settings(settings: Settings) -> None:
    client = TestClient(create_app(settings.model_copy(update={"max_question_chars": 10}), FakeAssistant()))
    assert client.post("/v1/ask", json={"question": "x" * 10}).status_code == 200
    message = assert_error(client.post("/v1/ask", json={"question": "x" * 11}), 422, "question_too_long", "question")
    assert "10" in message


def test_ask_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/ask", content=b'{"question": "a"', headers={"Content-Type": "application/json"})
    message = assert_error(response, 400, "malformed_json")
    assert "JSON" in message


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'"texto"', "application/json"),
        (b"question=oi", "application/x-www-form-urlencoded"),
        (b"oi", "text/plain"),
    ],
)
def test_ask_body_that_is_not_an_object_is_422(client: TestClient, content: bytes, content_type: str) -> None:
    response = client.post("/v1/ask", content=content, headers={"Content-Type": content_type})
    assert_error(response, 422, "invalid_request")


def test_invalid_question_from_service_is_422_with_its_message(settings: Settings) -> None:
    class Refusing(FakeAssistant):
        def ask(self, question, **kwargs):  # type: ignore[override]
            from assistant.errors import InvalidQuestion

            raise InvalidQuestion("A pergunta precisa ter letras.", field="question")

    client = TestClient(create_app(settings, Refusing()))
    response = client.post("/v1/ask", json={"question": "pergunta que o serviço recusa"})
    assert assert_error(response, 422, "invalid_question") == "A pergunta precisa ter letras."
    assert response.json()["error"]["field"] == "question"


def test_no_snapshot_is_503_telling_to_ingest(client: TestClient, fake: FakeAssistant) -> None:
    fake.snapshot_id = None
    for response in (
        client.post("/v1/ask", json={"question": "oi"}),
        client.get("/v1/search", params={"q": "oi"}),
        client.post("/v1/suggest", json={"subject": "oi", "description": "", "tags": []}),
        client.get(f"/v1/documents/{DOCUMENT_ID}"),
    ):
        message = assert_error(response, 503, "no_snapshot")
        assert "bpa ingest" in message


def test_unexpected_error_is_500_in_the_error_shape(settings: Settings) -> None:
    class Broken(FakeAssistant):
        def ask(self, question, **kwargs):  # type: ignore[override]
            raise RuntimeError("boom")

    client = TestClient(create_app(settings, Broken()))
    message = assert_error(client.post("/v1/ask", json={"question": "oi"}), 500, "internal_error")
    assert "boom" not in message


# --- /v1/search -----------------------------------------------------------------------


def test_search_returns_hits(client: TestClient) -> None:
    response = client.get("/v1/search", params={"q": "cliente parado", "k": 1})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 1
    assert set(results[0]) == {"chunk_id", "document_id", "title", "section", "url", "text", "score"}


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({}, "invalid_request", "q"),
        ({"q": "  "}, "invalid_question", "q"),
        ({"q": "x" * 2001}, "question_too_long", "q"),
        ({"q": "a", "k": "dez"}, "invalid_request", "k"),
        ({"q": "a", "k": 0}, "invalid_request", "k"),
        ({"q": "a", "k": 99}, "invalid_request", "k"),
    ],
)
def test_search_bad_input(client: TestClient, params: dict, code: str, field: str) -> None:
    assert_error(client.get("/v1/search", params=params), 422, code, field)


# --- /v1/suggest ----------------------------------------------------------------------


def test_suggest_passes_the_ticket_through(client: TestClient, fake: FakeAssistant) -> None:
    ticket = {
        "subject": "Cliente parado",
        "description": "Sem retorno há 3 dias",
        "tags": ["protheus", "sla"],
    }
    response = client.post("/v1/suggest", json=ticket)
    assert response.status_code == 200
    body = response.json()
    assert body["checklist"] == CHECKLIST
    assert [r["url"] for r in body["results"]] == [c.url for c in CITATIONS]
    assert fake.suggests[-1] == ("Cliente parado", "Sem retorno há 3 dias", ["protheus", "sla"])


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"subject": " ", "description": "", "tags": []}, "invalid_ticket", "subject"),
        ({"subject": "a", "description": "x" * 20_001, "tags": []}, "invalid_request", "description"),
        ({"subject": "a", "description": "b", "tags": "sla"}, "invalid_request", "tags"),
        ({"subject": "a", "description": "b", "tags": [1]}, "invalid_request", "tags[0]"),
        ({"subject": "a", "description": "b", "tags": [], "ticket_id": 1}, "invalid_request", "ticket_id"),
        ({"subject": 1, "description": "b"}, "invalid_request", "subject"),
    ],
)
def test_suggest_bad_input(client: TestClient, payload: dict, code: str, field: str) -> None:
    assert_error(client.post("/v1/suggest", json=payload), 422, code, field)


def test_suggest_long_description_message_names_the_limit(client: TestClient) -> None:
    response = client.post("/v1/suggest", json={"subject": "a", "description": "x" * 20_001})
    assert "20000" in response.json()["error"]["message"]


def test_suggest_accepts_descriptions_up_to_the_domain_limit(client: TestClient) -> None:
    from assistant.suggest import MAX_DESCRIPTION_CHARS

    at_limit = {"subject": "a", "description": "x" * MAX_DESCRIPTION_CHARS}
    assert client.post("/v1/suggest", json=at_limit).status_code == 200
    over = {"subject": "a", "description": "x" * (MAX_DESCRIPTION_CHARS + 1)}
    assert_error(client.post("/v1/suggest", json=over), 422, "invalid_request", "description")


# --- /v1/feedback ---------------------------------------------------------------------


def test_feedback_is_recorded(client: TestClient, fake: FakeAssistant) -> None:
    answer_id = client.post("/v1/ask", json={"question": "cliente parado"}).json()["answer_id"]
    response = client.post("/v1/feedback", json={"answer_id": answer_id, "helpful": False, "comment": "faltou"})
    assert response.status_code == 201
    assert response.json() == {"answer_id": answer_id, "recorded": True}
    assert (fake.feedbacks[-1].answer_id, fake.feedbacks[-1].helpful, fake.feedbacks[-1].comment) == (
        answer_id,
        False,
        "faltou",
    )


def test_feedback_unknown_answer_is_404(client: TestClient) -> None:
    assert_error(
        client.post("/v1/feedback", json={"answer_id": "nunca-dado", "helpful": True}),
        404,
        "unknown_answer",
        "answer_id",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"answer_id": "a", "helpful": "sim"}, "helpful"),
        ({"answer_id": "a", "helpful": 1}, "helpful"),
        ({"helpful": True}, "answer_id"),
        ({"answer_id": "a"}, "helpful"),
        ({"answer_id": "a", "helpful": True, "comment": "x" * 2001}, "comment"),
    ],
)
def test_feedback_bad_input(client: TestClient, payload: dict, field: str) -> None:
    assert_error(client.post("/v1/feedback", json=payload), 422, "invalid_request", field)


# --- /v1/documents --------------------------------------------------------------------


def test_document_view(client: TestClient) -> None:
    response = client.get(f"/v1/documents/{DOCUMENT_ID}")
    assert response.status_code == 200
    body = response.json()
    assert body["document_id"] == DOCUMENT_ID
    assert [s["anchor"] for s in body["sections"]] == ["atendimento", "cliente-parado"]


def test_unknown_document_is_404(client: TestClient) -> None:
    assert_error(client.get("/v1/documents/nao-existe"), 404, "unknown_document")


# --- framework errors keep the shape --------------------------------------------------


def test_unknown_route_and_wrong_method_keep_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nao-existe"), 404, "not_found")
    assert_error(client.get("/v1/ask"), 405, "method_not_allowed")


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post(
        "/v1/suggest",
        content=b'{"subject": "' + b"x" * 300_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")


def test_oversized_streamed_body_is_413(client: TestClient) -> None:
    def chunks():
        yield b'{"subject": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    response = client.post("/v1/suggest", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


# --- the OpenAPI schema says what validation does (issue 10, item 10) --------------------


def _search_param(schema: dict, name: str) -> dict:
    params = schema["paths"]["/v1/search"]["get"]["parameters"]
    return next(p["schema"] for p in params if p["name"] == name)


def test_schema_states_the_question_rules_with_the_configured_limit(settings: Settings) -> None:
    client = TestClient(create_app(settings.model_copy(update={"max_question_chars": 300}), FakeAssistant()))
    schema = client.get("/openapi.json").json()
    question = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]
    q = _search_param(schema, "q")
    for rules in (question, q):
        assert rules["minLength"] == 1
        assert rules["maxLength"] == 300
        assert rules["pattern"]


# What a client reading the schema concludes must be what the server does: valid by the
# schema's pattern <=> accepted (blank, whitespace-only and wordless questions included).
QUESTIONS = ["", " ", "   \n\t ", "\u00a0\u2003", "\x1c", "123", "?!... 42", "_", "a", " ação ", "É?", "ok 1"]


@pytest.mark.parametrize("text", QUESTIONS)
def test_question_fields_accept_exactly_what_the_schema_allows(client: TestClient, text: str) -> None:
    import re

    schema = client.get("/openapi.json").json()
    pattern = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]["pattern"]
    allowed = len(text) >= 1 and re.search(pattern, text) is not None
    ask = client.post("/v1/ask", json={"question": text})
    search = client.get("/v1/search", params={"q": text})
    for response, field in ((ask, "question"), (search, "q")):
        if allowed:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, 422, "invalid_question", field)


def test_schema_states_that_a_ticket_needs_a_word(client: TestClient) -> None:
    import re

    ticket = client.get("/openapi.json").json()["components"]["schemas"]["SuggestRequest"]
    branches = ticket["anyOf"]
    assert {tuple(b["required"]) for b in branches} == {("subject",), ("description",)}
    for branch in branches:
        (name,) = branch["required"]
        pattern = branch["properties"][name]["pattern"]
        assert re.search(pattern, "   ") is None and re.search(pattern, "123") is None
        assert re.search(pattern, "cliente parado")
    assert_error(client.post("/v1/suggest", json={"subject": "42", "description": " \n"}), 422, "invalid_ticket")
    assert client.post("/v1/suggest", json={"subject": "", "description": "sem retorno"}).status_code == 200


def test_search_sources_follow_the_same_schema_as_ask(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    sources = _search_param(schema, "sources")
    assert sources["type"] == "array"  # no null: a query string cannot say it
    assert sources["items"]["maxLength"] == 200
    assert sources["maxItems"] == 50
    # An item longer than the schema allows was answered 200.
    response = client.get("/v1/search", params={"q": "cliente", "sources": ["x" * 201]})
    assert_error(response, 422, "invalid_request", "sources[0]")
    assert client.get("/v1/search", params={"q": "cliente", "sources": ["tdn", "local"]}).status_code == 200


def test_integral_top_k_is_accepted_as_json_schema_integers_are(client: TestClient) -> None:
    assert client.post("/v1/ask", json={"question": "cliente parado", "top_k": 2.0}).status_code == 200
    assert_error(client.post("/v1/ask", json={"question": "cliente parado", "top_k": 2.5}), 422, "invalid_request")
