"""The fetching helper against a real local server: retries, Retry-After, timeouts, auth."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ingest.sources.http import (
    MAX_REDIRECTS,
    USER_AGENT,
    Fetcher,
    FetchError,
    MalformedResponse,
    Refused,
    basic_auth,
    bearer_auth,
    retry_after_seconds,
)
from tests.support.standins import SiteStandin, fast_settings


@pytest.fixture
def site() -> Iterator[SiteStandin]:
    with SiteStandin() as s:
        s.add("/ok", "<p>ok</p>")
        s.add("/data.json", '{"a": 1}', content_type="application/json")
        s.add("/broken.json", '{"a": ', content_type="application/json")
        yield s


def test_get_sends_user_agent_and_auth(site: SiteStandin) -> None:
    with Fetcher(fast_settings(), auth=bearer_auth("pat-123"), origin=site.url) as http:
        assert http.get(f"{site.url}/ok").text == "<p>ok</p>"
    (req,) = site.requests_to("/ok")
    assert req.headers["user-agent"] == USER_AGENT == "bpa/0.1"
    assert req.headers["authorization"] == "Bearer pat-123"


def test_basic_auth_encodes_credentials() -> None:
    value = basic_auth("ana@totvs.com.br/token:s3cr3t")
    assert value.startswith("Basic ")
    assert base64.b64decode(value.removeprefix("Basic ")).decode() == "ana@totvs.com.br/token:s3cr3t"


def test_5xx_is_retried_until_success(site: SiteStandin) -> None:
    site.fail("/ok", 503, times=2)
    with Fetcher(fast_settings(http_retries=2)) as http:
        assert http.get(f"{site.url}/ok").status_code == 200
    assert site.count("/ok") == 3


def test_5xx_after_retries_raises_with_status_and_url(site: SiteStandin) -> None:
    site.fail("/ok", 500, times=None)
    with Fetcher(fast_settings(http_retries=2)) as http, pytest.raises(FetchError) as info:
        http.get(f"{site.url}/ok")
    assert info.value.status == 500
    assert info.value.url == f"{site.url}/ok"
    assert "3 tentativas" in str(info.value)
    assert site.count("/ok") == 3


def test_4xx_is_not_retried(site: SiteStandin) -> None:
    with Fetcher(fast_settings(http_retries=3)) as http, pytest.raises(FetchError) as info:
        http.get(f"{site.url}/missing")
    assert info.value.status == 404
    assert site.count("/missing") == 1


def test_429_honours_retry_after_seconds(site: SiteStandin) -> None:
    site.fail("/ok", 429, retry_after="1", times=1)
    started = time.monotonic()
    with Fetcher(fast_settings(http_backoff=0.01)) as http:
        assert http.get(f"{site.url}/ok").status_code == 200
    first, second = site.requests_to("/ok")
    assert second.at - first.at >= 0.9  # the server's 1 s, not the 0.01 s backoff
    assert time.monotonic() - started < 5


def test_retry_after_is_capped(site: SiteStandin) -> None:
    site.fail("/ok", 429, retry_after="3600", times=1)
    slept: list[float] = []
    with Fetcher(fast_settings(), sleep=slept.append, max_retry_after=2.0) as http:
        http.get(f"{site.url}/ok")
    assert slept == [2.0]


def test_retry_after_parsing() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("amanhã") is None
    assert retry_after_seconds(None) is None


def test_backoff_doubles(site: SiteStandin) -> None:
    site.fail("/ok", 502, times=3)
    slept: list[float] = []
    with Fetcher(fast_settings(http_retries=3, http_backoff=0.5), sleep=slept.append) as http:
        http.get(f"{site.url}/ok")
    assert slept == [0.5, 1.0, 2.0]


def test_timeout_is_retried_then_raises(site: SiteStandin) -> None:
    site.slow("/ok", 2.0)
    with Fetcher(fast_settings(http_timeout=0.2, http_retries=1)) as http, pytest.raises(FetchError) as info:
        http.get(f"{site.url}/ok")
    assert "tempo esgotado" in str(info.value)
    assert info.value.status is None
    assert site.count("/ok") == 2


def test_connection_refused_is_retried_then_raises() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    slept: list[float] = []
    with (
        Fetcher(fast_settings(http_retries=2), sleep=slept.append) as http,
        pytest.raises(FetchError) as info,
    ):
        http.get(f"http://127.0.0.1:{port}/x")
    assert "falha de conexão" in str(info.value)
    assert len(slept) == 2


def test_get_json_and_malformed_json(site: SiteStandin) -> None:
    with Fetcher(fast_settings()) as http:
        assert http.get_json(f"{site.url}/data.json") == {"a": 1}
        with pytest.raises(MalformedResponse):
            http.get_json(f"{site.url}/broken.json")


def test_get_if_skips_body_when_not_accepted(site: SiteStandin) -> None:
    site.add("/file.pdf", "%PDF-1.4", content_type="application/pdf")
    with Fetcher(fast_settings()) as http:
        assert http.get_if(f"{site.url}/file.pdf", lambda r: "html" in r.headers["content-type"]) is None
        assert http.get_if(f"{site.url}/ok", lambda r: "html" in r.headers["content-type"]) is not None


def test_map_keeps_order_and_bounds_concurrency(site: SiteStandin) -> None:
    for i in range(12):
        site.add(f"/p{i}", str(i))
    site.slow(r"/p\d+", 0.1)
    with Fetcher(fast_settings(http_concurrency=3, http_timeout=2)) as http:
        results = list(http.map(lambda i: http.get(f"{site.url}/p{i}").text, range(12)))
    assert results == [str(i) for i in range(12)]
    assert 1 < site.max_in_flight <= 3


# --- redirects and origins (issue 10, items 2 and 3) ----------------------------------


def test_credentials_never_leave_their_origin(site: SiteStandin) -> None:
    with SiteStandin() as other:
        other.add("/x", "<p>outro</p>")
        site.redirect("/jump", f"{other.url}/x", status=302)
        with Fetcher(fast_settings(), auth=bearer_auth("pat-123"), origin=site.url) as http:
            for url in (f"{other.url}/x", f"{site.url}/jump"):  # asked directly, or through a redirect
                with pytest.raises(Refused, match="origem"):
                    http.get(url)
        assert other.requests == []
    assert site.requests_to("/jump")[0].headers["authorization"] == "Bearer pat-123"
    with pytest.raises(ValueError):
        Fetcher(fast_settings(), auth=bearer_auth("pat-123"))  # credentials must be bound to an origin


def test_each_redirect_hop_is_checked_before_it_is_requested(site: SiteStandin) -> None:
    site.redirect("/a", "/b", status=302)
    site.redirect("/b", "/ok", status=307)
    seen: list[str] = []

    def check(hop: str) -> str | None:
        seen.append(hop)
        return "não pode" if hop.endswith("/ok") else None

    with Fetcher(fast_settings()) as http:
        with pytest.raises(Refused) as info:
            http.get(f"{site.url}/a", check=check)
        assert seen == [f"{site.url}/b", f"{site.url}/ok"]
        assert site.count("/ok") == 0 and "não pode" in str(info.value)
        assert http.get(f"{site.url}/a").text == "<p>ok</p>"  # no check: followed to the end


def test_redirect_loop_stops(site: SiteStandin) -> None:
    site.redirect("/loop", "/loop", status=302)
    with Fetcher(fast_settings()) as http, pytest.raises(FetchError, match="redirecionamentos demais"):
        http.get(f"{site.url}/loop")
    assert site.count("/loop") == MAX_REDIRECTS + 1
