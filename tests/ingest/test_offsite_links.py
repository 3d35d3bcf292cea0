"""Issue 10 (items 2 and 3) through a whole ingest: a link a remote server hands out that
leaves the configured site fails its source, and what the previous snapshot had is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.embedding.fake import FakeEmbedder
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest
from tests.support.standins import ConfluenceStandin, SiteStandin, ZendeskStandin, fast_settings


def _texts(store: SnapshotStore) -> str:
    return " ".join(c.text for c in store.open_current().all_chunks().values())


@pytest.fixture
def other() -> Iterator[SiteStandin]:
    """Another origin, which must never be asked anything."""
    with SiteStandin() as s:
        s.add("/x", "<h1>Interno</h1><p>Texto interno SEGREDO-42.</p>")
        yield s


def test_zendesk_next_link_off_origin_keeps_the_previous_documents(
    tmp_path: Path, data_dir: Path, other: SiteStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZD_TOKEN", "ana@totvs.com.br/token:abc")
    with ZendeskStandin(max_page_size=2) as zd:
        zd.add_article("Reembolso", "<p>Reembolsos usam o formulário TATU-31.</p>")
        zd.add_synthetic(4)
        toml = tmp_path / "sources.toml"
        toml.write_text(f'[[source]]\nname = "kcs"\ntype = "zendesk"\nbase_url = "{zd.url}"\ntoken_env = "ZD_TOKEN"\n')
        settings = fast_settings(data_dir=data_dir, sources=toml)
        first = run_ingest(settings, FakeEmbedder())
        assert first.ok and first.new == 5

        zd.next_origin = other.url
        zd.edit_article(next(iter(zd.articles)), body="<p>Reembolsos agora usam o formulário QUATI-8.</p>")
        second = run_ingest(settings, FakeEmbedder())

    assert other.requests == []  # neither a request nor the Authorization header
    status = second.sources["kcs"]
    assert status.status == "failed" and status.documents == 5
    assert status.error is not None and f"{other.url}/api/v2/help_center/" in status.error
    store = SnapshotStore(data_dir)
    assert len(store.open_current().documents("kcs")) == 5
    assert "TATU-31" in _texts(store) and "QUATI-8" not in _texts(store)  # the previous snapshot's text


def test_confluence_next_link_off_origin_keeps_the_previous_documents(
    tmp_path: Path, data_dir: Path, other: SiteStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TDN_TOKEN", "pat-xyz")
    with ConfluenceStandin(max_limit=2, expected_auth="Bearer pat-xyz") as cf:
        cf.add_page("100", "Processos", "<p>Raiz dos processos.</p>")
        cf.add_page("101", "Plantão", "<p>O plantão atende pelo canal CORUJA-12.</p>", parent="100")
        cf.add_synthetic(4, parent="100")
        toml = tmp_path / "sources.toml"
        toml.write_text(
            f'[[source]]\nname = "tdn"\ntype = "confluence"\nbase_url = "{cf.url}"\npage_ids = ["100"]\n'
            'token_env = "TDN_TOKEN"\n'
        )
        settings = fast_settings(data_dir=data_dir, sources=toml)
        assert run_ingest(settings, FakeEmbedder()).ok

        cf.links_origin, cf.absolute_next = other.url, True
        second = run_ingest(settings, FakeEmbedder())

    assert other.requests == []
    status = second.sources["tdn"]
    assert status.status == "failed" and status.documents == 6
    assert status.error is not None and other.url in status.error
    assert "CORUJA-12" in _texts(SnapshotStore(data_dir))


def test_web_start_url_redirecting_off_site_is_not_indexed(tmp_path: Path, data_dir: Path, other: SiteStandin) -> None:
    with SiteStandin() as site:
        site.redirect("/docs/index", f"{other.url}/x", status=302)
        toml = tmp_path / "sources.toml"
        toml.write_text(
            f'[[source]]\nname = "portal"\ntype = "web"\nurls = ["{site.url}/docs/index"]\n'
            f'allow = ["{site.url}/docs/"]\ndelay = 0\n'
        )
        report = run_ingest(fast_settings(data_dir=data_dir, sources=toml), FakeEmbedder())

    assert other.requests == []
    assert report.sources["portal"].status == "failed" and not report.ok
    # Nothing else to index: no (empty) snapshot is published at all.
    assert not report.published and SnapshotStore(data_dir).current_id() is None


def test_listing_failing_after_unchanged_pages_keeps_each_document_once(tmp_path: Path, data_dir: Path) -> None:
    """A listing that stops on its second page, after unchanged articles were already carried over."""
    with ZendeskStandin(max_page_size=2) as zd:
        zd.add_synthetic(5)
        toml = tmp_path / "sources.toml"
        toml.write_text(f'[[source]]\nname = "kcs"\ntype = "zendesk"\nbase_url = "{zd.url}"\n')
        settings = fast_settings(data_dir=data_dir, sources=toml, http_retries=0)
        assert run_ingest(settings, FakeEmbedder()).ok
        zd.fail(r"page\[after\]", 500, times=None)
        second = run_ingest(settings, FakeEmbedder())
    assert second.sources["kcs"].status == "failed" and second.sources["kcs"].documents == 5
    assert len(SnapshotStore(data_dir).open_current().documents("kcs")) == 5
