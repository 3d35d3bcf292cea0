"""ConfluenceSource against the local Confluence stand-in (REST API v1)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import ConfluenceSourceConfig
from ingest.sources.confluence import ConfluenceSource
from tests.support.standins import MALFORMED_HTML, ConfluenceStandin, SiteStandin, fast_settings


def make_source(cf: ConfluenceStandin, **overrides: Any) -> ConfluenceSource:
    fields: dict[str, Any] = {
        "name": "tdn",
        "type": "confluence",
        "base_url": cf.base_url,
        "page_ids": ["100"],
    }
    settings = overrides.pop("settings", None) or fast_settings()
    return ConfluenceSource(ConfluenceSourceConfig(**{**fields, **overrides}), settings)


def run(source: ConfluenceSource, previous: dict[str, str] | None = None) -> dict[str, RawDocument]:
    docs = list(source.fetch(previous or {}))
    keys = [d.key for d in docs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return {d.key: d for d in docs}


@pytest.fixture
def cf() -> Iterator[ConfluenceStandin]:
    """A tree: 100 › 101 › 102, plus 30 synthetic children of 100; server caps limit at 7."""
    with ConfluenceStandin(max_limit=7) as server:
        server.add_page("100", "Boas Práticas", "<p>raiz</p>")
        server.add_page("101", "Atendimento", "<p>atendimento</p>", parent="100")
        server.add_page("102", "Abertura de chamados", "<p>chamados</p>", parent="101")
        server.add_synthetic(30, parent="100")
        yield server


def test_multi_page_listing_yields_every_page_once(cf: ConfluenceStandin) -> None:
    docs = run(make_source(cf))
    assert set(docs) == set(cf.pages)  # 33 pages, descendants listed 7 at a time
    assert len(cf.requests_to(r"/descendant/page")) >= 5
    chamados = docs["102"]
    assert chamados.html == "<p>chamados</p>"
    assert chamados.title == "Abertura de chamados"
    assert chamados.url == f"{cf.url}/pages/viewpage.action?pageId=102"
    assert chamados.breadcrumbs == ["Boas Práticas", "Atendimento"]
    assert chamados.version == "1"
    assert chamados.updated_at == cf.pages["102"].when
    assert chamados.metadata == {"space": "DOC"}
    assert all(d.error is None and not d.unchanged for d in docs.values())


def test_listing_without_next_links_paginates_by_size(cf: ConfluenceStandin) -> None:
    cf.next_links = False
    assert set(run(make_source(cf))) == set(cf.pages)


def test_descendants_false_lists_only_roots(cf: ConfluenceStandin) -> None:
    docs = run(make_source(cf, page_ids=["101", "102"], descendants=False))
    assert set(docs) == {"101", "102"}
    assert cf.count("/descendant/") == 0


def test_space_listing_uses_cql_and_skips_non_current_and_non_pages(cf: ConfluenceStandin) -> None:
    cf.add_page("900", "Versão antiga", parent="100", status="historical")
    cf.add_page("901", "manual.pdf", parent="100", type="attachment")
    cf.add_page("902", "Rascunho", parent="100", status="draft")
    cf.add_page("950", "Outro espaço", space="OUT")
    docs = run(make_source(cf, page_ids=[], space="DOC"))
    assert set(docs) == set(cf.pages) - {"900", "901", "902", "950"}
    (first, *_) = cf.requests_to(r"/content/search")
    assert first.param("cql") == 'space="DOC" and type=page'


def test_unchanged_pages_are_not_downloaded_again(cf: ConfluenceStandin) -> None:
    source = make_source(cf)
    first = run(source)
    previous = {k: d.version or "" for k, d in first.items()}
    cf.edit_page("102", body="<p>chamados revisados</p>")
    cf.delete_page("101")
    cf.clear_log()

    second = run(source, previous)

    assert set(second) == set(cf.pages)  # 101 is gone, its child 102 moved up
    assert second["102"].html == "<p>chamados revisados</p>" and second["102"].version == "2"
    assert second["102"].breadcrumbs == ["Boas Práticas"]
    unchanged = [d for d in second.values() if d.unchanged]
    assert len(unchanged) == len(second) - 1
    assert all(d.html is None and d.url for d in unchanged)
    bodies = cf.requests_to(r"expand=body")
    assert [r.path for r in bodies] == ["/rest/api/content/102"]
    assert all(r.param("expand") == "version" for r in cf.requests_to(r"/descendant/"))


def test_429_with_retry_after_is_retried(cf: ConfluenceStandin) -> None:
    cf.fail(r"/descendant/page", 429, retry_after="0.2", times=1)
    assert set(run(make_source(cf))) == set(cf.pages)
    first, second = cf.requests_to(r"/descendant/page.*start=0")[:2]
    assert second.at - first.at >= 0.15


def test_500_on_one_body_yields_that_page_with_error(cf: ConfluenceStandin) -> None:
    cf.fail(r"/content/102\?.*body", 500, times=None)
    docs = run(make_source(cf, settings=fast_settings(http_retries=2)))
    assert set(docs) == set(cf.pages)
    broken = docs["102"]
    assert broken.html is None
    assert broken.error is not None and "Abertura de chamados" in broken.error and "HTTP 500" in broken.error
    assert cf.count(r"/content/102\?.*body") == 3
    assert all(d.error is None for k, d in docs.items() if k != "102")


def test_500_on_listing_raises_source_error_naming_the_source(cf: ConfluenceStandin) -> None:
    cf.fail(r"/descendant/page.*start=14", 500, times=None)
    with pytest.raises(SourceError) as info:
        run(make_source(cf))
    assert "Confluence 'tdn'" in str(info.value)
    assert "HTTP 500" in str(info.value)


def test_listing_failure_yields_nothing(cf: ConfluenceStandin) -> None:
    cf.fail(r"/descendant/page.*start=21", 503, times=None)
    fetched = make_source(cf).fetch({})
    with pytest.raises(SourceError):
        next(fetched)  # the listing is completed before the first document


def test_slow_body_times_out_after_retries(cf: ConfluenceStandin) -> None:
    cf.slow(r"/content/101\?.*body", 2.0)
    docs = run(make_source(cf, settings=fast_settings(http_timeout=0.2, http_retries=1)))
    assert docs["101"].error is not None and "tempo esgotado" in docs["101"].error
    assert cf.count(r"/content/101\?.*body") == 2
    assert docs["102"].html == "<p>chamados</p>"


def test_slow_listing_raises_source_error(cf: ConfluenceStandin) -> None:
    cf.slow(r"/descendant/page", 2.0)
    with pytest.raises(SourceError, match="tempo esgotado"):
        run(make_source(cf, settings=fast_settings(http_timeout=0.2, http_retries=1)))


def test_malformed_listing_json_raises_source_error(cf: ConfluenceStandin) -> None:
    cf.malformed(r"/descendant/page.*start=7")
    with pytest.raises(SourceError, match="JSON"):
        run(make_source(cf))


def test_malformed_body_json_and_missing_body_are_page_errors(cf: ConfluenceStandin) -> None:
    cf.malformed(r"/content/101\?.*body")
    cf.add_page("103", "Sem corpo", body=None, parent="100")
    docs = run(make_source(cf))
    assert docs["101"].error is not None and "JSON" in docs["101"].error
    assert docs["103"].error is not None and "body.view" in docs["103"].error
    assert docs["103"].html is None


def test_malformed_html_is_passed_through_for_the_parser(cf: ConfluenceStandin) -> None:
    cf.edit_page("102", body=MALFORMED_HTML)
    assert run(make_source(cf))["102"].html == MALFORMED_HTML


def test_missing_root_raises_source_error(cf: ConfluenceStandin) -> None:
    with pytest.raises(SourceError, match="999"):
        run(make_source(cf, page_ids=["999"]))


def test_server_pat_is_sent_as_bearer(cf: ConfluenceStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    cf.expected_auth = "Bearer pat-xyz"
    monkeypatch.setenv("TDN_TOKEN", "pat-xyz")
    assert set(run(make_source(cf, token_env="TDN_TOKEN"))) == set(cf.pages)


def test_unauthorized_raises_source_error_with_hint(cf: ConfluenceStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    cf.expected_auth = "Bearer certo"
    monkeypatch.setenv("TDN_TOKEN", "errado")
    with pytest.raises(SourceError) as info:
        run(make_source(cf, token_env="TDN_TOKEN"))
    assert "401" in str(info.value) and "TDN_TOKEN" in str(info.value)
    assert cf.count("/rest/api/") == 1  # 401 is not retried


def test_missing_token_env_raises_source_error(cf: ConfluenceStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TDN_TOKEN", raising=False)
    with pytest.raises(SourceError, match="TDN_TOKEN"):
        run(make_source(cf, token_env="TDN_TOKEN"))


def test_cloud_uses_wiki_context_and_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = "ana@totvs.com.br:api-token"
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()
    with ConfluenceStandin(context="/wiki", max_limit=3, expected_auth=expected) as cloud:
        cloud.add_page("100", "Raiz", space="KB")
        cloud.add_synthetic(8, parent="100", space="KB")
        monkeypatch.setenv("CONF_CLOUD", credentials)
        source = make_source(cloud, token_env="CONF_CLOUD")
        assert source.cloud
        docs = run(source)
        assert set(docs) == set(cloud.pages)
        assert docs["10003"].url == f"{cloud.url}/wiki/spaces/KB/pages/10003"
        assert all(r.path.startswith("/wiki/rest/api/") for r in cloud.requests)


# --- links from the API are untrusted (issue 10, item 3) --------------------------------


@pytest.mark.parametrize("absolute_next", [True, False], ids=["absolute-next", "relative-next-on-base"])
def test_listing_links_to_another_origin_stop_the_listing_and_get_no_token(
    cf: ConfluenceStandin, monkeypatch: pytest.MonkeyPatch, absolute_next: bool
) -> None:
    cf.expected_auth = "Bearer pat-xyz"
    monkeypatch.setenv("TDN_TOKEN", "pat-xyz")
    with SiteStandin() as other:
        cf.links_origin, cf.absolute_next = other.url, absolute_next
        with pytest.raises(SourceError) as info:
            run(make_source(cf, token_env="TDN_TOKEN"))
        assert other.requests == []  # so no Authorization header went there either
        other_url = other.url
    message = str(info.value)
    assert "Confluence 'tdn'" in message and other_url in message and "_links" in message


def test_citation_url_off_the_origin_is_refused(cf: ConfluenceStandin) -> None:
    cf.add_page("103", "Arroba", parent="100")
    original = cf._content

    def hostile(page: Any, expand: set[str], *, single: bool) -> dict[str, Any]:
        data = original(page, expand, single=single)
        if page.id == "103":  # base + webui would read http://127.0.0.1:PORT@evil.example/x
            data["_links"]["webui"] = "@evil.example/x"
        return data

    cf._content = hostile  # type: ignore[method-assign]
    with pytest.raises(SourceError, match="webui"):
        run(make_source(cf))
