"""Health, readiness, metrics, the web page, /d/{id} and the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from assistant.http import create_app
from index.settings import Settings
from tests.support.fake_assistant import DOCUMENT_ID, SNAPSHOT_ID, FakeAssistant


@pytest.fixture
def fake() -> FakeAssistant:
    return FakeAssistant()


@pytest.fixture
def client(settings: Settings, fake: FakeAssistant) -> TestClient:
    return TestClient(create_app(settings, fake))


def metric_value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else r"(?:\{\})?") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_follows_the_snapshot(client: TestClient, fake: FakeAssistant) -> None:
    assert client.get("/readyz").json() == {
        "status": "ready", "snapshot": SNAPSHOT_ID, "state": "ok", "last_reindex": None,
    }  # fmt: skip
    fake.snapshot_id = None
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_snapshot"
    assert "bpa ingest" in response.json()["error"]["message"]
    fake.snapshot_id = "snap-2"  # hot reload: readiness follows without restart
    assert client.get("/readyz").json()["snapshot"] == "snap-2"


def test_metrics_count_requests_per_route_template(client: TestClient) -> None:
    client.post("/v1/ask", json={"question": "cliente parado"})
    client.post("/v1/ask", json={"question": "qual o preço?"})
    client.post("/v1/ask", json={"question": " "})
    client.get(f"/v1/documents/{DOCUMENT_ID}")
    client.get("/v1/documents/outro")
    client.get("/nao-existe/123")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric_value(text, "bpa_http_requests_total", 'method="POST",route="/v1/ask",status="200"') == 2
    assert metric_value(text, "bpa_http_requests_total", 'method="POST",route="/v1/ask",status="422"') == 1
    doc_route = 'method="GET",route="/v1/documents/{document_id}",status='
    assert metric_value(text, "bpa_http_requests_total", doc_route + '"200"') == 1
    assert metric_value(text, "bpa_http_requests_total", doc_route + '"404"') == 1
    assert "/v1/documents/outro" not in text  # raw paths never become labels
    assert metric_value(text, "bpa_http_requests_total", 'method="GET",route="<unmatched>",status="404"') == 1
    assert metric_value(text, "bpa_http_request_duration_seconds_count", 'method="POST",route="/v1/ask"') == 3
    assert metric_value(text, "bpa_answers_total") == 2
    assert metric_value(text, "bpa_answers_abstained_total") == 1
    assert metric_value(text, "bpa_snapshot_info", f'snapshot_id="{SNAPSHOT_ID}"') == 1


def test_metrics_are_per_app(settings: Settings) -> None:
    first = TestClient(create_app(settings, FakeAssistant()))
    second = TestClient(create_app(settings, FakeAssistant()))
    first.post("/v1/ask", json={"question": "oi"})
    assert 'route="/v1/ask"' in first.get("/metrics").text
    assert 'route="/v1/ask"' not in second.get("/metrics").text


def test_index_page_is_served_with_its_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="question"' in page.text and 'lang="pt-BR"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/answer-render.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "the page must not load external resources"


def test_document_page_has_one_element_per_section_anchor(client: TestClient) -> None:
    response = client.get(f"/d/{DOCUMENT_ID}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="atendimento"' in response.text
    assert 'id="cliente-parado"' in response.text
    assert "Cliente parado" in response.text


def test_document_page_escapes_text(settings: Settings) -> None:
    from assistant.types import DocumentSection, DocumentView

    class Hostile(FakeAssistant):
        def document(self, document_id: str) -> DocumentView:
            return DocumentView(
                document_id="x",
                title="<script>alert(1)</script>",
                url="http://a/d/x",
                source="local",
                updated_at=None,
                sections=[
                    DocumentSection(
                        title="<img src=x onerror=alert(1)>",
                        path="a",
                        anchor='x" onclick="y',
                        url="http://a/d/x#x",
                    )
                ],
            )

    text = TestClient(create_app(settings, Hostile())).get("/d/x").text
    assert "<script>alert" not in text and "<img" not in text
    assert 'onclick="y' not in text


def test_document_page_unknown_and_no_snapshot(client: TestClient, fake: FakeAssistant) -> None:
    missing = client.get("/d/nao-existe")
    assert missing.status_code == 404
    assert "não encontrado" in missing.text
    fake.snapshot_id = None
    unavailable = client.get(f"/d/{DOCUMENT_ID}")
    assert unavailable.status_code == 503
    assert "bpa ingest" in unavailable.text


def test_openapi_lists_every_route_with_typed_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/v1/ask",
        "/v1/search",
        "/v1/suggest",
        "/v1/feedback",
        "/v1/documents/{document_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    ask = paths["/v1/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskRequest")
    assert ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskResponse")
    assert ask["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert schema["components"]["schemas"]["AskRequest"]["additionalProperties"] is False
    assert "201" in paths["/v1/feedback"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_every_asset_from_this_server(client: TestClient, page: str) -> None:
    from bs4 import BeautifulSoup

    html = client.get(page)
    assert html.status_code == 200
    soup = BeautifulSoup(html.text, "html.parser")
    assets = [tag.get("src") or tag.get("href") for tag in soup.find_all(["script", "link"])]
    assets = [str(a) for a in assets if a]
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), f"{page} loads {asset} from elsewhere"
        assert client.get(asset).status_code == 200, asset


def test_document_page_heading_depth_and_section_text(settings: Settings) -> None:
    from assistant.types import DocumentSection, DocumentView

    class SectionWithText(DocumentSection):  # what DocumentSection may grow into
        text: str

    class Texty(FakeAssistant):
        def document(self, document_id: str) -> DocumentView:
            return DocumentView(
                document_id="x",
                title="Guia",
                url="http://a/d/x",
                source="local",
                updated_at=None,
                sections=[
                    SectionWithText(
                        title="Topo",
                        path="Guia › Topo",
                        anchor="topo",
                        url="http://a/d/x#topo",
                        text="Primeiro parágrafo.\n\nSegundo <b>parágrafo</b>.",
                    ),
                    SectionWithText(
                        title="Sub", path="Guia › Topo › Sub", anchor="sub", url="http://a/d/x#sub", text=""
                    ),
                ],
            )

    text = TestClient(create_app(settings, Texty())).get("/d/x").text
    assert "<h2>Topo</h2>" in text and "<h3>Sub</h3>" in text
    assert "<p>Primeiro parágrafo.</p>" in text
    assert "<p>Segundo &lt;b&gt;parágrafo&lt;/b&gt;.</p>" in text


def _document_app(settings: Settings, sections: list) -> TestClient:  # type: ignore[type-arg]
    from assistant.types import DocumentView

    class WithSections(FakeAssistant):
        def document(self, document_id: str) -> DocumentView:
            return DocumentView(
                document_id="x", title="Guia", url="http://a/d/x", source="local", updated_at=None, sections=sections
            )

    return TestClient(create_app(settings, WithSections()))


def test_document_page_shows_list_items_and_steps_as_lists(settings: Settings) -> None:
    from assistant.types import DocumentSection

    text = "Considere os itens:\n• Assunto do ticket;\n• Marca TOTVS;\n1. Ler a descrição.\n2. Confirmar.\nFim."
    page = (
        _document_app(
            settings, [DocumentSection(title="Revisão", path="Guia › Revisão", anchor="revisao", url="u", text=text)]
        )
        .get("/d/x")
        .text
    )
    assert (
        "<p>Considere os itens:</p>"
        '<ul class="doc-list"><li>Assunto do ticket;</li><li>Marca TOTVS;</li></ul>'
        '<ol class="doc-list"><li value="1">Ler a descrição.</li><li value="2">Confirmar.</li></ol>'
        "<p>Fim.</p>"
    ) in page


def test_document_page_ids_are_unique_and_keep_linked_ids(settings: Settings) -> None:
    import re

    from assistant.types import DocumentSection

    def sec(title: str, path: str, anchor: str) -> DocumentSection:
        return DocumentSection(title=title, path=path, anchor=anchor, url="u", text="x")

    page = (
        _document_app(
            settings,
            [
                sec("Cliente parado", "Guia › Introdução › Cliente parado", ":~:text=Cliente%20parado"),
                sec("Cliente parado", "Guia › Desenvolvimento › Cliente parado", ":~:text=Cliente%20parado"),
                sec("Desenvolvimento", "Guia › Desenvolvimento", "guia-desenvolvimento-cliente-parado"),  # a real id
                sec("Outro", "Guia › Outro", "guia-desenvolvimento-cliente-parado"),  # duplicated real id
            ],
        )
        .get("/d/x")
        .text
    )
    ids = re.findall(r'<section id="([^"]*)"', page)
    assert len(ids) == 4 and len(set(ids)) == 4
    assert ids[2] == "guia-desenvolvimento-cliente-parado"  # the id citations link to is kept
    assert not any(i.startswith(":~:") for i in ids)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_document_page_never_links_a_script_url(settings: Settings, url: str) -> None:
    from assistant.types import DocumentView

    class Crafted(FakeAssistant):
        def document(self, document_id: str) -> DocumentView:
            return DocumentView(
                document_id="x", title="Documento", url=url, source="zendesk", updated_at=None, sections=[]
            )

    text = TestClient(create_app(settings, Crafted())).get("/d/x").text
    assert "script:" not in text.lower() and "data:" not in text
    assert ">original</a>" not in text  # no link at all rather than a neutered one
    assert '<a href="/">fazer uma pergunta</a>' in text


@pytest.mark.parametrize("url", ["https://tdn.totvs.com/x?a=1&b=2", "http://a/d/x#s", "/d/x"])
def test_document_page_links_http_and_relative_urls(settings: Settings, url: str) -> None:
    from assistant.types import DocumentView

    class Linked(FakeAssistant):
        def document(self, document_id: str) -> DocumentView:
            return DocumentView(
                document_id="x", title="Documento", url=url, source="local", updated_at=None, sections=[]
            )

    text = TestClient(create_app(settings, Linked())).get("/d/x").text
    assert f'<a href="{url.replace("&", "&amp;")}" rel="noopener noreferrer">original</a>' in text


def test_the_servers_shutdown_closes_the_service(settings: Settings) -> None:
    # The service's state store (a PostgreSQL pool) is released at shutdown, not left to the collector.
    fake = FakeAssistant()
    with TestClient(create_app(settings, fake)) as client:
        assert client.get("/healthz").status_code == 200
        assert not fake.closed
    assert fake.closed
