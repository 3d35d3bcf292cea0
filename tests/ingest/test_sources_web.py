"""WebSource (the crawler) against a local site stand-in."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import WebSourceConfig
from ingest.sources.web import WebSource, normalize_url
from tests.support.standins import Response, SiteStandin, fast_settings


def page(title: str, *links: str, canonical: str | None = None) -> str:
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    anchors = "".join(f'<a href="{href}">{href}</a>' for href in links)
    return f"<html><head><title>{title}</title>{head}</head><body><h1>{title}</h1>{anchors}</body></html>"


@pytest.fixture
def other() -> Iterator[SiteStandin]:
    """Another site (another origin) the crawl must not wander into."""
    with SiteStandin() as s:
        s.add("/x", page("Fora"))
        yield s


@pytest.fixture
def site(other: SiteStandin) -> Iterator[SiteStandin]:
    with SiteStandin(robots="User-agent: *\nDisallow: /private\n") as s:
        s.add(
            "/docs/index",
            page(
                "Início",
                "a", "a?ref=menu", "alias", "b/", "b#secao", "/private/secret", "/outside/page",
                f"{other.url}/x", "manual.pdf", "file", "missing", "deep1", "old", "mailto:x@totvs.com.br",
            ),
        )  # fmt: skip
        s.add(
            "/docs/a",
            page("A", canonical="/docs/a"),
            headers={"Last-Modified": "Tue, 04 Mar 2025 10:00:00 GMT"},
        )
        s.add("/docs/alias", page("A de novo", canonical="/docs/a"))
        s.add("/docs/b", page("B"))
        s.add("/docs/file", "%PDF-1.4", content_type="application/pdf")
        s.add("/docs/deep1", page("Nível 1", "deep2"))
        s.add("/docs/deep2", page("Nível 2", "deep3"))
        s.add("/docs/deep3", page("Nível 3"))
        s.add("/private/secret", page("Segredo"))
        s.add("/outside/page", page("Fora da lista"))
        s.redirect("/docs/old", "/docs/b")
        yield s


def make_source(site: SiteStandin, **overrides: Any) -> WebSource:
    fields: dict[str, Any] = {
        "name": "portal", "type": "web", "urls": [f"{site.url}/docs/index"], "allow": [f"{site.url}/docs/"],
        "delay": 0,
    }  # fmt: skip
    return WebSource(WebSourceConfig(**{**fields, **overrides}), fast_settings())


def run(source: WebSource) -> dict[str, RawDocument]:
    docs = list(source.fetch({}))
    keys = [d.key for d in docs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return {d.key.split("/", 3)[3]: d for d in docs}  # keyed by path, without the origin


def test_crawl_honours_robots_allow_list_depth_and_dedup(site: SiteStandin, other: SiteStandin) -> None:
    docs = run(make_source(site))
    assert set(docs) == {"docs/index", "docs/a", "docs/b", "docs/deep1", "docs/deep2"}  # 404 link skipped
    assert site.count("/private") == 0  # robots.txt
    assert site.count("/outside") == 0  # allow-list
    assert other.requests == []  # another origin
    assert site.count(r"\.pdf") == 0 and site.count("/docs/deep3") == 0  # extension; max_depth=2
    assert site.count(r"^/docs/b/$") == 1 and site.count(r"^/docs/b$") == 1  # b/ = b#secao; old → b
    assert all(docs[k].error is None for k in docs if k != "docs/missing")
    assert site.count(r"^/docs/a(\?|$)") == 2 and site.count("/docs/alias") == 1  # one document for the three


def test_documents_carry_canonical_key_and_html(site: SiteStandin) -> None:
    docs = run(make_source(site))
    a = docs["docs/a"]
    assert a.url == a.key == f"{site.url}/docs/a"
    assert a.html is not None and "<h1>A</h1>" in a.html
    assert a.version is None and a.error is None
    assert a.updated_at == "2025-03-04T10:00:00+00:00"
    assert "A de novo" not in "".join(d.html or "" for d in docs.values())  # alias has /docs/a as canonical


def test_non_html_is_not_yielded(site: SiteStandin) -> None:
    docs = run(make_source(site))
    assert site.count("/docs/file") == 1
    assert "docs/file" not in docs


def test_dead_link_is_skipped_and_failing_linked_page_is_yielded_with_error(site: SiteStandin) -> None:
    site.fail(r"^/docs/b/?$", status=500, times=None)
    docs = run(make_source(site))
    assert "docs/missing" not in docs  # 404: gone, so a completed crawl drops it
    failing = docs["docs/b"]
    assert failing.html is None
    assert failing.error is not None and "500" in failing.error and "/docs/b" in failing.error


def test_max_pages(site: SiteStandin) -> None:
    assert len(run(make_source(site, max_pages=3))) == 3


def test_max_depth_zero_fetches_only_start_urls(site: SiteStandin) -> None:
    assert set(run(make_source(site, max_depth=0))) == {"docs/index"}
    assert site.count("/docs/a") == 0


def test_without_allow_list_the_crawl_stays_on_the_start_origin(site: SiteStandin, other: SiteStandin) -> None:
    docs = run(make_source(site, allow=[]))
    assert "outside/page" in docs
    assert "private/secret" not in docs
    assert other.requests == []


def test_start_url_disallowed_by_robots_raises(site: SiteStandin) -> None:
    with pytest.raises(SourceError, match=r"robots\.txt"):
        run(make_source(site, urls=[f"{site.url}/private/secret"]))


def test_unreachable_robots_means_disallow_all(site: SiteStandin) -> None:
    site.fail("/robots.txt", 503, times=None)
    with pytest.raises(SourceError, match=r"robots\.txt"):
        run(make_source(site))
    assert site.count("/docs/") == 0


def test_missing_robots_means_allow_all(site: SiteStandin) -> None:
    site.robots = None
    docs = run(make_source(site, urls=[f"{site.url}/private/secret"], allow=[]))
    assert "private/secret" in docs


def test_start_url_failure_raises_source_error(site: SiteStandin) -> None:
    site.fail("/docs/index", 500, times=None)
    with pytest.raises(SourceError) as info:
        run(make_source(site))
    assert "web 'portal'" in str(info.value) and "HTTP 500" in str(info.value)


def test_polite_delay_between_requests_to_one_host(site: SiteStandin) -> None:
    run(make_source(site, delay=0.1, max_pages=3))
    times = [r.at for r in site.requests]
    assert len(times) >= 4  # robots.txt and three pages
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.09


def test_normalize_url() -> None:
    assert normalize_url("HTTPS://Exemplo.com.br:443/docs/#topo") == "https://exemplo.com.br/docs"
    assert normalize_url("http://exemplo.com.br") == "http://exemplo.com.br/"
    assert normalize_url("http://exemplo.com.br:8080/a/?x=1") == "http://exemplo.com.br:8080/a?x=1"


def test_charset_declared_in_markup_is_honoured() -> None:
    html = '<html><head><meta charset="iso-8859-1"><title>Configuração</title></head><body>ação</body></html>'
    with SiteStandin() as s:
        s.pages["/latin"] = Response(200, html.encode("latin-1"), "text/html")
        docs = list(make_source(s, urls=[f"{s.url}/latin"], allow=[]).fetch({}))
    assert docs[0].html is not None and "Configuração" in docs[0].html and "ação" in docs[0].html


# --- redirects and the allow-list (issue 10, item 2) -----------------------------------


def crawl_from(site: SiteStandin, start: str, caplog: pytest.LogCaptureFixture) -> dict[str, RawDocument]:
    """Crawl from the path ``start`` under the usual allow-list, capturing the crawler's warnings."""
    caplog.set_level(logging.WARNING, logger="ingest.sources.web")
    return run(make_source(site, urls=[f"{site.url}{start}"]))


def test_allowed_link_redirecting_to_another_port_is_skipped_with_a_warning(
    site: SiteStandin, other: SiteStandin, caplog: pytest.LogCaptureFixture
) -> None:
    site.add("/docs/hub", page("Hub", "jump", "a"))
    site.redirect("/docs/jump", f"{other.url}/x?email=ana@totvs.com.br", status=302)
    docs = crawl_from(site, "/docs/hub", caplog)
    assert set(docs) == {"docs/hub", "docs/a"}
    assert other.requests == []  # the hop was refused before it was requested
    warning = caplog.text
    assert f"{site.url}/docs/jump" in warning and f"{other.url}/x?…" in warning and "allow" in warning
    assert "ana@totvs.com.br" not in warning  # the target's query string is not logged


def test_two_step_redirect_chain_is_stopped_at_the_hop_that_leaves(
    site: SiteStandin, other: SiteStandin, caplog: pytest.LogCaptureFixture
) -> None:
    site.add("/docs/hub", page("Hub", "step1"))
    site.redirect("/docs/step1", "/docs/step2", status=302)
    site.redirect("/docs/step2", f"{other.url}/x", status=302)
    docs = crawl_from(site, "/docs/hub", caplog)
    assert set(docs) == {"docs/hub"}
    assert site.count("^/docs/step2$") == 1  # the allowed first hop was taken
    assert other.requests == []
    assert f"{site.url}/docs/step1" in caplog.text


def test_start_url_redirecting_off_site_fails_the_source(site: SiteStandin, other: SiteStandin) -> None:
    site.redirect("/docs/start", f"{other.url}/x", status=302)
    for allow in ([f"{site.url}/docs/"], []):  # explicit allow-list, and the default one
        with pytest.raises(SourceError) as info:
            run(make_source(site, urls=[f"{site.url}/docs/start"], allow=allow))
        assert f"{site.url}/docs/start" in str(info.value) and f"{other.url}/x" in str(info.value)
    assert other.requests == []


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)"])
def test_redirect_to_another_scheme_is_refused(
    site: SiteStandin, caplog: pytest.LogCaptureFixture, target: str
) -> None:
    site.add("/docs/hub", page("Hub", "odd"))
    site.redirect("/docs/odd", target, status=302)
    docs = crawl_from(site, "/docs/hub", caplog)
    assert set(docs) == {"docs/hub"}  # skipped, not a failed page
    assert f"{site.url}/docs/odd" in caplog.text and "http" in caplog.text


def test_redirect_to_an_internal_address_needs_the_address_in_allow(
    site: SiteStandin, caplog: pytest.LogCaptureFixture
) -> None:
    """A host *name* resolving to loopback is not enough: the allow-list must name the address."""
    port = int(site.url.rsplit(":", 1)[1])
    named = f"http://localhost:{port}"
    site.add("/docs/hub", page("Hub", "old"))  # /docs/old → /docs/b, on the same host
    caplog.set_level(logging.WARNING, logger="ingest.sources.web")
    docs = run(make_source(site, urls=[f"{named}/docs/hub"], allow=[f"{named}/docs/"]))
    assert set(docs) == {"docs/hub"} and site.count("^/docs/b$") == 0
    assert f"{named}/docs/old" in caplog.text and "endereço interno" in caplog.text
    addresses = [f"http://127.0.0.1:{port}/", f"http://[::1]:{port}/"]
    docs = run(make_source(site, urls=[f"{named}/docs/hub"], allow=[f"{named}/docs/", *addresses]))
    assert set(docs) == {"docs/hub", "docs/b"}


def test_allow_prefix_is_compared_by_host_and_port_not_as_a_string(site: SiteStandin, other: SiteStandin) -> None:
    sneaky = f"{site.url}@{other.url.removeprefix('http://')}/x"  # user info, then another host
    site.add("/docs/hub", page("Hub", sneaky, f"{site.url}0/x"))  # and a port that only starts the same
    docs = run(make_source(site, urls=[f"{site.url}/docs/hub"], allow=[site.url]))
    assert set(docs) == {"docs/hub"}
    assert other.requests == []
