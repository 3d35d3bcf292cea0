"""API keys, rate limit, CORS and the exposure warning."""

from __future__ import annotations

import logging

import pytest
from fake_assistant import FakeAssistant
from starlette.testclient import TestClient

from assistant.http import create_app, warn_if_exposed
from assistant.http.security import SlidingWindowLimiter
from index.settings import Settings

ASK = {"question": "cliente parado, o que faço?"}


def make_client(settings: Settings, **overrides: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides), FakeAssistant()))


# --- API keys -------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "errada"}, {"X-API-Key": ""}])
def test_v1_requires_a_valid_api_key_when_keys_are_set(settings: Settings, headers: dict) -> None:
    client = make_client(settings, api_keys=["k1", "k2"])
    response = client.post("/v1/ask", json=ASK, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "X-API-Key" in response.json()["error"]["message"]
    assert client.get("/v1/search", params={"q": "oi"}, headers=headers).status_code == 401


def test_any_configured_key_is_accepted(settings: Settings) -> None:
    client = make_client(settings, api_keys=["k1", "k2"])
    assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "k2"}).status_code == 200
    assert client.get("/v1/search", params={"q": "oi"}, headers={"X-API-Key": "k1"}).status_code == 200


def test_health_metrics_and_pages_need_no_key(settings: Settings) -> None:
    client = make_client(settings, api_keys=["k1"])
    for path in ("/healthz", "/readyz", "/metrics", "/", "/static/app.js", "/d/boas-praticas-do-suporte"):
        assert client.get(path).status_code == 200, path


def test_no_keys_configured_means_open_api(settings: Settings) -> None:
    assert make_client(settings).post("/v1/ask", json=ASK).status_code == 200


def test_openapi_declares_the_api_key_scheme_when_keys_are_set(settings: Settings) -> None:
    schema = make_client(settings, api_keys=["k1"]).get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("name") == "X-API-Key" and s.get("in") == "header" for s in schemes.values())


# --- rate limit -----------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    client = make_client(settings, rate_limit_per_minute=3)
    for _ in range(3):
        assert client.post("/v1/ask", json=ASK).status_code == 200
    response = client.post("/v1/ask", json=ASK)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/healthz").status_code == 200  # operations routes are not limited


def test_rate_limit_is_per_api_key(settings: Settings) -> None:
    client = make_client(settings, rate_limit_per_minute=2, api_keys=["a", "b"])
    for _ in range(2):
        assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "a"}).status_code == 200
    assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "a"}).status_code == 429
    assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "b"}).status_code == 200


def test_wrong_keys_are_rate_limited_by_ip(settings: Settings) -> None:
    client = make_client(settings, rate_limit_per_minute=2, api_keys=["certa"])
    for _ in range(2):
        assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "chute"}).status_code == 401
    response = client.post("/v1/ask", json=ASK, headers={"X-API-Key": "outro-chute"})
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_sliding_window_frees_slots_as_time_passes() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(2, window=60.0, clock=lambda: now[0])
    assert limiter.hit("x") is None
    now[0] += 30
    assert limiter.hit("x") is None
    retry = limiter.hit("x")
    assert retry == pytest.approx(30.0)
    assert limiter.hit("y") is None  # other clients are independent
    now[0] += 30.01  # the first hit left the window
    assert limiter.hit("x") is None
    assert limiter.hit("x") is not None


# --- CORS -----------------------------------------------------------------------------


def test_cors_allows_listed_origin(settings: Settings) -> None:
    client = make_client(settings, cors_origins=["https://empresa.zendesk.com"])
    preflight = client.options(
        "/v1/ask",
        headers={
            "Origin": "https://empresa.zendesk.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://empresa.zendesk.com"
    response = client.post("/v1/ask", json=ASK, headers={"Origin": "https://empresa.zendesk.com"})
    assert response.headers["access-control-allow-origin"] == "https://empresa.zendesk.com"


def test_cors_denies_unlisted_origin(settings: Settings) -> None:
    client = make_client(settings, cors_origins=["https://empresa.zendesk.com"])
    preflight = client.options(
        "/v1/ask", headers={"Origin": "https://malicioso.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = client.post("/v1/ask", json=ASK, headers={"Origin": "https://malicioso.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_also_on_errors(settings: Settings) -> None:
    client = make_client(settings, cors_origins=["https://empresa.zendesk.com"], api_keys=["k"])
    response = client.post("/v1/ask", json=ASK, headers={"Origin": "https://empresa.zendesk.com"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "https://empresa.zendesk.com"


# --- exposure warning -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "keys", "warns"),
    [
        ("127.0.0.1", [], False),
        ("localhost", [], False),
        ("::1", [], False),
        ("0.0.0.0", [], True),
        ("10.1.2.3", [], True),
        ("0.0.0.0", ["k"], False),
    ],
)
def test_warn_if_exposed(
    settings: Settings, caplog: pytest.LogCaptureFixture, host: str, keys: list, warns: bool
) -> None:
    logger = logging.getLogger("test.exposed")
    with caplog.at_level(logging.WARNING, logger="test.exposed"):
        assert warn_if_exposed(settings.model_copy(update={"host": host, "api_keys": keys}), logger) is warns
    assert bool(caplog.records) is warns
    if warns:
        assert "BPA_API_KEYS" in caplog.text
