"""ZendeskSource against the local Help Center stand-in (cursor pagination)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import ZendeskSourceConfig
from ingest.sources.zendesk import ZendeskSource
from tests.support.standins import MALFORMED_HTML, SiteStandin, ZendeskStandin, fast_settings


def make_source(zd: ZendeskStandin, **overrides: Any) -> ZendeskSource:
    fields: dict[str, Any] = {"name": "kcs", "type": "zendesk", "base_url": zd.base_url}
    settings = overrides.pop("settings", None) or fast_settings()
    return ZendeskSource(ZendeskSourceConfig(**{**fields, **overrides}), settings)


def run(source: ZendeskSource, previous: dict[str, str] | None = None) -> dict[str, RawDocument]:
    docs = list(source.fetch(previous or {}))
    keys = [d.key for d in docs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return {d.key: d for d in docs}


@pytest.fixture
def zd() -> Iterator[ZendeskStandin]:
    """25 published articles in two sections; the server serves at most 6 per page."""
    with ZendeskStandin(max_page_size=6) as server:
        server.add_synthetic(25, section_ids=(11, 22))
        yield server


def published(zd: ZendeskStandin) -> set[str]:
    return {str(a.id) for a in zd.articles.values() if not a.draft}


def test_multi_page_listing_yields_every_article_once(zd: ZendeskStandin) -> None:
    docs = run(make_source(zd))
    assert set(docs) == published(zd) and len(docs) == 25
    listing = zd.requests_to(r"/api/v2/help_center/pt-br/articles\.json")
    assert len(listing) == 5  # 25 articles, 6 at a time
    assert listing[0].param("page[size]") == "100"
    article = next(iter(zd.articles.values()))
    doc = docs[str(article.id)]
    assert doc.html == article.body
    assert doc.title == article.title
    assert doc.url.startswith(f"{zd.url}/hc/pt-br/articles/{article.id}-")
    assert doc.version == doc.updated_at == article.updated_at
    assert doc.breadcrumbs == []
    assert doc.metadata["labels"] == ",".join(article.label_names)
    assert doc.metadata["section_id"] == str(article.section_id)


def test_drafts_are_skipped(zd: ZendeskStandin) -> None:
    draft = zd.add_article("Rascunho em revisão", draft=True)
    docs = run(make_source(zd))
    assert str(draft.id) not in docs
    assert len(docs) == 25


def test_sections_are_listed_separately(zd: ZendeskStandin) -> None:
    zd.add_article("Em outra seção", section_id=33)
    docs = run(make_source(zd, section_ids=[11, 22]))
    assert set(docs) == {str(a.id) for a in zd.articles.values() if a.section_id in (11, 22)}
    assert zd.count(r"/pt-br/sections/11/articles\.json") >= 1
    assert zd.count(r"/pt-br/sections/22/articles\.json") >= 1
    assert zd.count(r"/pt-br/articles\.json") == 0


def test_label_filter_is_sent_and_applied(zd: ZendeskStandin) -> None:
    tagged = zd.add_article("Ajuste do MV_ESTNEG", labels=["parametro", "estoque"])
    other = zd.add_article("Sem o rótulo", labels=["outro"])
    docs = run(make_source(zd, labels=["parametro", "fiscal"]))
    assert str(tagged.id) in docs and str(other.id) not in docs
    assert all({"parametro", "fiscal"} & set(d.metadata["labels"].split(",")) for d in docs.values())
    assert zd.requests[0].param("label_names") == "parametro,fiscal"


def test_label_filter_applied_even_if_server_ignores_it(zd: ZendeskStandin) -> None:
    zd.honour_labels = False
    zd.add_article("Rotulado", labels=["parametro"])
    zd.add_article("Sem rótulo")
    docs = run(make_source(zd, labels=["parametro"], section_ids=[1]))
    assert [d.title for d in docs.values()] == ["Rotulado"]
    assert zd.requests[0].param("label_names") == "parametro"


def test_unchanged_articles_are_marked_and_not_fetched_individually(zd: ZendeskStandin) -> None:
    source = make_source(zd)
    first = run(source)
    previous = {k: d.version or "" for k, d in first.items()}
    edited, deleted = list(zd.articles)[:2]
    zd.edit_article(edited, body="<p>revisado</p>")
    zd.delete_article(deleted)
    zd.clear_log()

    second = run(source, previous)

    assert set(second) == published(zd)
    assert second[str(edited)].html == "<p>revisado</p>" and not second[str(edited)].unchanged
    others = [d for k, d in second.items() if k != str(edited)]
    assert others and all(d.unchanged and d.html is None for d in others)
    assert all("/articles.json" in r.path for r in zd.requests)  # listing only, no per-article GET


def test_429_with_retry_after_is_retried(zd: ZendeskStandin) -> None:
    zd.fail(r"articles\.json", 429, retry_after="0.2", times=1)
    assert len(run(make_source(zd))) == 25
    first, second = zd.requests[:2]
    assert first.target == second.target
    assert second.at - first.at >= 0.15


def test_500_on_listing_raises_source_error_naming_the_source(zd: ZendeskStandin) -> None:
    zd.fail(r"page\[after\]", 500, times=None)  # the second page onwards
    with pytest.raises(SourceError) as info:
        run(make_source(zd, settings=fast_settings(http_retries=2)))
    assert "Zendesk 'kcs'" in str(info.value) and "HTTP 500" in str(info.value)
    assert zd.count(r"page\[after\]") == 3


def test_slow_listing_times_out_then_source_error(zd: ZendeskStandin) -> None:
    zd.slow(r"articles\.json", 2.0)
    with pytest.raises(SourceError, match="tempo esgotado"):
        run(make_source(zd, settings=fast_settings(http_timeout=0.2, http_retries=1)))
    assert zd.count(r"articles\.json") == 2


def test_malformed_json_raises_source_error(zd: ZendeskStandin) -> None:
    zd.malformed(r"page\[after\]")
    with pytest.raises(SourceError, match="JSON"):
        run(make_source(zd))


def test_has_more_without_next_link_raises_source_error(zd: ZendeskStandin) -> None:
    zd.malformed(r"articles\.json", body=b'{"articles": [], "meta": {"has_more": true}, "links": {}}')
    with pytest.raises(SourceError, match=r"links\.next"):
        run(make_source(zd))


def test_null_body_is_a_page_error_and_bad_html_passes(zd: ZendeskStandin) -> None:
    broken = zd.add_article("Corpo nulo", body=None)
    sloppy = zd.add_article("HTML malformado", body=MALFORMED_HTML)
    docs = run(make_source(zd))
    assert docs[str(broken.id)].html is None
    assert "Corpo nulo" in (docs[str(broken.id)].error or "")
    assert docs[str(sloppy.id)].html == MALFORMED_HTML


def test_api_token_is_sent_as_basic_auth(zd: ZendeskStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "ana@totvs.com.br/token:abc123"
    zd.expected_auth = "Basic " + base64.b64encode(secret.encode()).decode()
    monkeypatch.setenv("ZD_TOKEN", secret)
    assert len(run(make_source(zd, token_env="ZD_TOKEN"))) == 25


def test_forbidden_raises_source_error_with_hint(zd: ZendeskStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    zd.fail(r"articles\.json", 403, times=None)
    monkeypatch.setenv("ZD_TOKEN", "x/token:y")
    with pytest.raises(SourceError, match="ZD_TOKEN"):
        run(make_source(zd, token_env="ZD_TOKEN"))
    assert zd.count(r"articles\.json") == 1


# --- links from the API are untrusted (issue 10, item 3) --------------------------------


def test_next_link_to_another_origin_stops_the_listing_and_gets_no_token(
    zd: ZendeskStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "ana@totvs.com.br/token:abc123"
    zd.expected_auth = "Basic " + base64.b64encode(secret.encode()).decode()
    monkeypatch.setenv("ZD_TOKEN", secret)
    with SiteStandin() as other:
        zd.next_origin = other.url
        with pytest.raises(SourceError) as info:
            run(make_source(zd, token_env="ZD_TOKEN"))
        assert other.requests == []  # so no Authorization header went there either
        other_url = other.url
    message = str(info.value)
    assert "Zendesk 'kcs'" in message and f"{other_url}/api/v2/help_center/pt-br/articles.json?…" in message
    assert "page[after]" not in message  # the query string a server chose is not repeated


@pytest.mark.parametrize(
    "html_url",
    ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,<script>x</script>",
     "vbscript:msgbox", "/hc/pt-br/articles/1", "//evil.example/x", "https://"],
)  # fmt: skip
def test_non_http_html_url_never_becomes_the_citation_url(
    zd: ZendeskStandin, caplog: pytest.LogCaptureFixture, html_url: str
) -> None:
    article = zd.add_article("Link estranho")
    article.html_url = html_url
    caplog.set_level(logging.WARNING, logger="ingest.sources.zendesk")
    doc = run(make_source(zd))[str(article.id)]
    assert doc.url == f"{zd.url}/hc/pt-br/articles/{article.id}"
    assert doc.html == article.body  # the article itself is indexed
    assert str(article.id) in caplog.text and "html_url" in caplog.text


def test_html_url_on_the_help_center_domain_is_kept(zd: ZendeskStandin) -> None:
    article = zd.add_article("Domínio próprio")
    article.html_url = "https://ajuda.totvs.com.br/hc/pt-br/articles/1-dominio"
    assert run(make_source(zd))[str(article.id)].url == article.html_url
