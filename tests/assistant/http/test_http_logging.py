"""LGPD: user text reaches the logs only masked."""

from __future__ import annotations

import logging
from urllib.parse import quote_plus, urlencode

import pytest
from starlette.testclient import TestClient

from assistant.http import create_app
from assistant.http.security import MaskingFilter, install_access_log_masking
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant
from tests.support.pii_cases import PII_CASES

CPF = "123.456.789-09"
EMAIL = "maria.silva@cliente.com.br"
QUESTION = f"Cliente com CPF {CPF} e e-mail {EMAIL} está parado, o que faço?"


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged (the test's own HTTP client logs its URLs too: not ours)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))


def test_question_is_logged_masked(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(settings, FakeAssistant()))
    with caplog.at_level(logging.DEBUG):
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        assert client.get("/v1/search", params={"q": QUESTION}).status_code == 200
        client.post("/v1/suggest", json={"subject": QUESTION, "description": QUESTION, "tags": []})
    logged = server_log(caplog)
    assert logged.count("[CPF]") >= 3 and logged.count("[EMAIL]") >= 3  # the lines are there, masked
    assert CPF not in logged
    assert EMAIL not in logged


def test_unexpected_error_traceback_is_logged_masked(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    class Leaky(FakeAssistant):
        def ask(self, question, **kwargs):  # type: ignore[override]
            raise ValueError(f"não consegui processar: {question}")

    client = TestClient(create_app(settings, Leaky()))
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert CPF not in response.text and EMAIL not in response.text
    logged = server_log(caplog)
    assert "ValueError" in logged and "[CPF]" in logged  # the traceback is logged...
    assert CPF not in logged and EMAIL not in logged  # ...masked


def test_access_log_filter_masks_the_url(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.access")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.access"):
        url = "/v1/search?q=cpf+123.456.789-09+de+maria.silva%40cliente.com.br"
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", url, "1.1", 200)
    assert "maria.silva" not in caplog.text and "123.456" not in caplog.text
    assert "/v1/search?q=cpf [CPF] de [EMAIL]" in caplog.text


def test_access_log_masking_is_installed_once() -> None:
    install_access_log_masking("test.access.once")
    install_access_log_masking("test.access.once")
    filters = logging.getLogger("test.access.once").filters
    assert sum(isinstance(f, MaskingFilter) for f in filters) == 1


def test_app_startup_masks_the_uvicorn_access_log(settings: Settings) -> None:
    access = logging.getLogger("uvicorn.access")
    access.filters = [f for f in access.filters if not isinstance(f, MaskingFilter)]
    with TestClient(create_app(settings, FakeAssistant())):
        assert any(isinstance(f, MaskingFilter) for f in access.filters)


@pytest.mark.parametrize(("written", "placeholder"), PII_CASES)
def test_every_format_is_masked_in_the_server_log(
    settings: Settings, caplog: pytest.LogCaptureFixture, written: str, placeholder: str
) -> None:
    client = TestClient(create_app(settings, FakeAssistant()))
    access = logging.getLogger("test.access.formats")
    access.addFilter(MaskingFilter())
    text = f"cliente {written} está parado"
    with caplog.at_level(logging.DEBUG):
        assert client.post("/v1/ask", json={"question": text}).status_code == 200
        # The access log line uvicorn writes, with the query string as the client sent it.
        url = "/v1/search?" + urlencode({"q": text})
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", url, "1.1", 200)
    logged = server_log(caplog)
    assert logged.count(placeholder) >= 2
    assert written not in logged and quote_plus(written) not in logged


def test_a_huge_url_is_logged_capped_and_masked(caplog: pytest.LogCaptureFixture) -> None:
    access = logging.getLogger("test.access.huge")
    access.addFilter(MaskingFilter())
    url = "/v1/search?q=" + quote_plus("cpf 529 982 247 25 ") + "a" * 100_000
    with caplog.at_level(logging.INFO, logger="test.access.huge"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", url, "1.1", 200)
    assert "/v1/search?q=cpf [CPF] aaa" in caplog.text and "529" not in caplog.text
    assert f"truncado: {len(url)} caracteres" in caplog.text and len(caplog.text) < 5_000


def test_a_path_is_logged_masked_when_there_is_no_index(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(settings, FakeAssistant(snapshot_id=None)))
    with caplog.at_level(logging.DEBUG):
        assert client.get(f"/v1/documents/cpf {CPF}").status_code == 503
    logged = server_log(caplog)
    assert "sem índice publicado" in logged and "[CPF]" in logged and CPF not in logged
