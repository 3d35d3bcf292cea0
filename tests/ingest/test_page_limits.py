"""Limits per page (issue 22, item 3): a download deadline whatever the server does, and a
cap on the decoded body checked while streaming; a page over one is one failed document."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.embedding.fake import FakeEmbedder
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest
from ingest.sources import ConfigError, load_sources
from ingest.sources.config import ConfluenceSourceConfig, WebSourceConfig
from ingest.sources.confluence import ConfluenceSource
from ingest.sources.http import Fetcher, FetchError
from ingest.sources.limits import PageLimits
from ingest.sources.web import WebSource
from tests.support.standins import ConfluenceStandin, fast_settings
from tests.support.standins.hostile import HostileSite, Page

TEXT = "<p>Para configurar o parâmetro MV_ESTNEG, acesse o Configurador e ajuste o conteúdo.</p>"


@pytest.fixture
def site() -> Iterator[HostileSite]:
    with HostileSite() as s:
        s.add("/trickle", Page("trickle", b"<html>" + b"x" * 600, interval=0.2))
        s.add("/silent", Page("silent"))
        s.add("/bomb", Page("bomb", inflated=64_000_000))
        s.html("/ok", f"<html><head><title>Boa</title></head><body>{TEXT}</body></html>")
        links = "".join(f'<a href="/{p}">{p}</a>' for p in ("trickle", "silent", "bomb", "ok"))
        s.html("/", f"<html><head><title>Início</title></head><body>{TEXT}{links}</body></html>")
        yield s


def _fetcher(**limits: Any) -> Fetcher:
    # A per-read timeout far above the deadline: only the deadline can cut these pages.
    settings = fast_settings(http_timeout=30.0, http_retries=3)
    return Fetcher(settings, limits=PageLimits.of(settings, **limits))


def test_trickling_page_is_cut_at_the_deadline_and_not_retried(site: HostileSite) -> None:
    started = time.monotonic()
    with _fetcher(deadline=1.0) as http, pytest.raises(FetchError, match="prazo de 1 s"):
        http.get(f"{site.url}/trickle")
    assert time.monotonic() - started < 2.5
    assert site.sent["/trickle"] < 20  # cut, and once: a retry would start the dribble again


def test_bytes_spaced_under_the_read_timeout_are_cut_at_the_deadline_not_after(site: HostileSite) -> None:
    # Each read returns before its timeout; only a deadline enforced during the read (the
    # socket shut down at the deadline) stops at 2 s rather than at the next byte (3 s).
    site.add("/slow-drip", Page("trickle", b"x" * 100, interval=1.5))
    started = time.monotonic()
    with _fetcher(deadline=2.0) as http, pytest.raises(FetchError, match="prazo de 2 s"):
        http.get(f"{site.url}/slow-drip")
    assert time.monotonic() - started < 2.7


def test_silent_page_is_cut_at_the_deadline_despite_a_long_read_timeout(site: HostileSite) -> None:
    started = time.monotonic()
    with _fetcher(deadline=1.0) as http, pytest.raises(FetchError, match="prazo"):
        http.get(f"{site.url}/silent")
    assert time.monotonic() - started < 2.5


def test_gzip_bomb_stops_at_the_cap_without_inflating_it_all(site: HostileSite) -> None:
    tracemalloc.start()
    try:
        with _fetcher(max_page_mb=1) as http, pytest.raises(FetchError, match="maior que o limite de 1 MB"):
            http.get(f"{site.url}/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # the bomb inflates to 64 MB


def test_gzip_body_under_the_cap_is_decoded(site: HostileSite) -> None:
    site.add("/small-bomb", Page("bomb", inflated=500_000))
    with _fetcher(max_page_mb=1) as http:
        response = http.get(f"{site.url}/small-bomb")
    assert response.content == bytes(500_000)
    assert "content-encoding" not in response.headers


def test_crawl_fails_hostile_pages_alone_naming_them(site: HostileSite) -> None:
    cfg = WebSourceConfig(name="portal", type="web", urls=[f"{site.url}/"], delay=0, page_deadline=1.0, max_page_mb=1)
    source = WebSource(cfg, fast_settings(http_timeout=30.0))
    started = time.monotonic()
    docs = {d.key.rsplit("/", 1)[-1]: d for d in source.fetch({})}
    assert time.monotonic() - started < 6
    assert docs["ok"].html and docs["ok"].error is None
    assert "prazo de 1 s" in (docs["trickle"].error or "") and f"{site.url}/trickle" in (docs["trickle"].error or "")
    assert "prazo" in (docs["silent"].error or "")
    assert "maior que o limite" in (docs["bomb"].error or "") and "/bomb" in (docs["bomb"].error or "")


def test_ingest_publishes_the_rest_and_reports_each_hostile_url(site: HostileSite, tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "portal"\ntype = "web"\nurls = ["{site.url}/"]\ndelay = 0\n'
        "page_deadline = 1.0\nmax_page_mb = 1\n",
        encoding="utf-8",
    )
    settings = fast_settings(data_dir=tmp_path / "var", sources=sources, http_timeout=30.0)
    report = run_ingest(settings, FakeEmbedder())
    assert report.published
    assert report.failed == 3
    assert len(report.errors) == 3
    for path in ("trickle", "silent", "bomb"):
        assert any(f"{site.url}/{path}: " in e for e in report.errors), report.errors
    snapshot = SnapshotStore(settings.data_dir).open_current()
    assert {d.key.rsplit("/", 1)[-1] for d in snapshot.documents()} == {"", "ok"}  # the start page and /ok


def test_confluence_page_over_the_cap_is_one_failed_document() -> None:
    with ConfluenceStandin() as cf:
        cf.add_page("100", "Raiz", TEXT)
        cf.add_page("101", "Enorme", "<p>" + "palavra " * 40_000 + "</p>", parent="100")
        cf.add_page("102", "Normal", TEXT, parent="100")
        cfg = ConfluenceSourceConfig(
            name="tdn", type="confluence", base_url=cf.base_url, page_ids=["100"], max_page_mb=0.1
        )
        docs = {d.key: d for d in ConfluenceSource(cfg, fast_settings()).fetch({})}
    assert docs["102"].html and docs["100"].html
    assert "maior que o limite de 100000 bytes" in (docs["101"].error or "")


@pytest.mark.parametrize(
    ("line", "message"),
    [("page_deadline = 0", "deve ser maior que zero"), ('max_page_mb = "muito"', "deve ser um número")],
)
def test_limits_are_validated_with_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(f'[[source]]\nname = "p"\ntype = "web"\nurls = ["http://x/"]\n{line}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"sources.toml:5: fonte #1, campo '{line.split()[0]}': {message}"):
        load_sources(path)


def test_a_page_without_a_length_cut_at_the_deadline_is_a_failure_not_a_short_page() -> None:
    # HTTP/1.0, no Content-Length: the body ends when the connection closes, so the watchdog's
    # shutdown looks like a normal end of page. What was read by then must not be indexed.
    import http.server
    import socketserver
    import threading

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for byte in b"<html><body><p>" + b"x" * 60:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with _fetcher(deadline=1.0) as http_, pytest.raises(FetchError, match="prazo de 1 s"):
            http_.get(f"http://127.0.0.1:{server.server_address[1]}/slow")
        assert time.monotonic() - started < 2.5
    finally:
        server.shutdown()
