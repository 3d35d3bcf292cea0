"""API keys, rate limit, CORS and the exposure warning."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from assistant.http import create_app, warn_if_exposed
from assistant.http.security import SlidingWindowLimiter
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant

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


def test_a_spent_budget_refuses_even_the_right_key(settings: Settings) -> None:
    # Otherwise 429 (wrong) versus 200 (right) would tell a guesser when it found a key.
    client = make_client(settings, rate_limit_per_minute=2, api_keys=["certa"])
    for _ in range(2):
        assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "chute"}).status_code == 401
    assert client.post("/v1/ask", json=ASK, headers={"X-API-Key": "certa"}).status_code == 429


def test_wrong_admin_tokens_are_rate_limited(settings: Settings) -> None:
    client = make_client(settings, rate_limit_per_minute=3, admin_token="o-token")
    for attempt in range(3):
        response = client.post("/v1/admin/reindex", headers={"Authorization": f"Bearer chute-{attempt}"})
        assert response.status_code == 401
    response = client.post("/v1/admin/reindex", headers={"Authorization": "Bearer chute-3"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/v1/admin/reindex/x", headers={"Authorization": "Bearer o-token"}).status_code == 429


def test_admin_token_without_header_counts_as_a_failure(settings: Settings) -> None:
    client = make_client(settings, rate_limit_per_minute=1, admin_token="o-token")
    assert client.post("/v1/admin/reindex").status_code == 401
    assert client.post("/v1/admin/reindex").status_code == 429


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


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Origin": "https://malicioso.example", "Access-Control-Request-Method": "POST"}, "origem"),
        ({"Origin": "https://empresa.zendesk.com", "Access-Control-Request-Method": "DELETE"}, "método"),
    ],
)
def test_refused_preflight_answers_in_the_error_shape(settings: Settings, headers: dict, named: str) -> None:
    client = make_client(settings, cors_origins=["https://empresa.zendesk.com"])
    response = client.options("/v1/ask", headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "cors_refused"
    assert named in error["message"]
    assert "access-control-allow-origin" not in response.headers or named != "origem"


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


# --- HEAD -----------------------------------------------------------------------------


def test_head_on_health_and_readiness(settings: Settings) -> None:
    fake = FakeAssistant()
    client = TestClient(create_app(settings, fake))
    for path in ("/healthz", "/readyz"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
    fake.snapshot_id = None
    assert client.head("/readyz").status_code == 503
    assert client.head("/healthz").status_code == 200


def _asgi_head(app: object, path: str) -> tuple[int, dict[str, str], bytes]:
    """HEAD straight through the ASGI app: what it sends before any server drops the body."""
    import asyncio

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "HEAD", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "headers": [], "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "root_path": "",
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.mark.parametrize(("path", "allow"), [("/v1/ask", "POST"), ("/v1/search", "GET"), ("/", "GET")])
def test_head_elsewhere_is_405_in_the_error_shape(settings: Settings, path: str, allow: str) -> None:
    import json

    status, headers, body = _asgi_head(create_app(settings, FakeAssistant()), path)
    assert status == 405
    assert headers["allow"] == allow
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


# --- trusted proxies --------------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings: Settings) -> None:
    def searches(client: TestClient, forwarded: list[str]) -> list[int]:
        return [
            client.get("/v1/search", params={"q": "oi"}, headers={"X-Forwarded-For": ip}).status_code
            for ip in forwarded
        ]

    spoofed = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    untrusted = TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 2}), FakeAssistant()),
                           client=("127.0.0.1", 5000))  # fmt: skip
    assert searches(untrusted, spoofed) == [200, 200, 429]

    behind_proxy = settings.model_copy(update={"rate_limit_per_minute": 2, "trusted_proxies": ["10.0.0.0/8"]})
    proxied = TestClient(create_app(behind_proxy, FakeAssistant()), client=("10.1.2.3", 5000))
    assert searches(proxied, spoofed) == [200, 200, 200]  # one bucket per real client
    assert searches(proxied, ["203.0.113.1", "203.0.113.1"]) == [200, 429]
    other_peer = TestClient(create_app(behind_proxy, FakeAssistant()), client=("192.0.2.9", 5000))
    assert searches(other_peer, spoofed) == [200, 200, 429]


def test_trusted_proxies_must_be_addresses(settings: Settings) -> None:
    from pydantic import ValidationError

    assert Settings(trusted_proxies=[" 10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValidationError, match=r"proxy\.interno"):
        Settings(trusted_proxies=["proxy.interno"])
