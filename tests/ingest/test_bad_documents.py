"""Bad documents fail alone (issue 22, items 4 and 6): deep nesting parses, an exception in
one document is one `falha` line, and charsets are not trusted blindly."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.embedding.fake import FakeEmbedder
from index.snapshot import SnapshotStore
from ingest import pipeline
from ingest.charset import decode_page
from ingest.flatten import html_to_lines
from ingest.parse import parse_document
from ingest.pipeline import run_ingest
from ingest.sources.base import RawDocument
from ingest.sources.config import WebSourceConfig
from ingest.sources.web import WebSource
from tests.support.standins import fast_settings
from tests.support.standins.hostile import HostileSite, Page

TEXT = "Configuração da ação fiscal: acesse o Configurador e ajuste o parâmetro MV_ESTNEG."


def _texts(html: str) -> str:
    doc = parse_document(RawDocument(source="s", key="k", url="http://x/", html=html), "http://bpa")
    return " ".join(b.text for _, sec in doc.root.walk() for b in sec.blocks)


@pytest.mark.parametrize(
    ("open_", "close"),
    [("<div>", "</div>"), ("<span>", "</span>"), ("<ul><li>item ", "</li></ul>"), ("<blockquote>", "</blockquote>")],
)
def test_html_nested_100k_levels_parses_and_keeps_its_text(open_: str, close: str) -> None:
    n = 100_000
    html = f"<html><body><p>Início.</p>{open_ * n}fundo do poço{close * n}<p>Fim.</p></body></html>"
    text = _texts(html)
    assert "fundo do poço" in text and text.startswith("Início.") and text.endswith("Fim.")


def test_shallow_nesting_is_read_as_before() -> None:
    html = "<ul><li>um<ul><li>dois<ul><li>três</li></ul></li></ul></li></ul><div><div><p>fim</p></div></div>"
    lines, _ = html_to_lines(html)
    assert [(line.kind, line.text, line.indent) for line in lines] == [
        ("item", "um", 2),
        ("item", "dois", 4),
        ("item", "três", 6),
        ("para", "fim", 0),
    ]


def _sources(tmp_path: Path, site_url: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f'[[source]]\nname = "portal"\ntype = "web"\nurls = ["{site_url}/"]\ndelay = 0\n', encoding="utf-8")
    return path


@pytest.fixture
def site() -> Iterator[HostileSite]:
    with HostileSite() as s:
        links = "".join(f'<a href="/{p}">{p}</a>' for p in ("deep", "boom", "ok"))
        s.html("/", f"<html><head><title>Início</title></head><body><p>{TEXT}</p>{links}</body></html>")
        s.html("/deep", "<title>Funda</title>" + "<div>" * 100_000 + TEXT + "</div>" * 100_000)
        s.html("/boom", f"<html><head><title>Bomba</title></head><body><p>{TEXT} BOOM</p></body></html>")
        s.html("/ok", f"<html><head><title>Boa</title></head><body><p>{TEXT} OK</p></body></html>")
        yield s


def test_an_exception_in_one_document_is_one_failure_and_the_run_goes_on(
    site: HostileSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.chunk_document

    def chunk(doc, cfg):  # type: ignore[no-untyped-def]
        if "BOOM" in " ".join(b.text for _, s in doc.root.walk() for b in s.blocks):
            raise KeyError("um bug")
        return real(doc, cfg)

    monkeypatch.setattr(pipeline, "chunk_document", chunk)
    settings = fast_settings(data_dir=tmp_path / "var", sources=_sources(tmp_path, site.url))
    report = run_ingest(settings, FakeEmbedder())
    assert report.published and report.failed == 1
    assert report.errors == [f"[portal] {site.url}/boom: erro ao processar o documento: KeyError: 'um bug'"]
    docs = {d.key.rsplit("/", 1)[-1] for d in SnapshotStore(settings.data_dir).open_current().documents()}
    assert docs == {"", "deep", "ok"}  # the 100k-deep page too


def test_an_exception_while_listing_fails_the_source_keeping_its_documents(
    site: HostileSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fast_settings(data_dir=tmp_path / "var", sources=_sources(tmp_path, site.url))
    run_ingest(settings, FakeEmbedder())

    def broken(self: WebSource, previous: dict[str, str]) -> Iterator[RawDocument]:
        yield RawDocument(source="portal", key=f"{site.url}/", url=f"{site.url}/", html="<p>x</p>")
        raise ValueError("estado impossível")

    monkeypatch.setattr(WebSource, "fetch", broken)
    report = run_ingest(settings, FakeEmbedder())
    assert report.errors == ["[portal] erro inesperado ao listar: ValueError: estado impossível"]
    assert report.sources["portal"].status == "failed"
    assert len(SnapshotStore(settings.data_dir).open_current().documents()) == 4


# --- charsets ------------------------------------------------------------------------

HTML = f"<html><head>{{meta}}<title>Configuração</title></head><body><p>{TEXT}</p></body></html>"


def test_wrong_meta_charset_is_detected_not_trusted() -> None:
    latin1_as_latin2 = HTML.format(meta='<meta charset="iso-8859-2">').encode("cp1252")
    assert "Configuração da ação" in decode_page(latin1_as_latin2).text
    utf8_as_latin1 = HTML.format(meta='<meta charset="iso-8859-1">').encode("utf-8")
    assert "Configuração da ação" in decode_page(utf8_as_latin1).text


def test_a_correct_declaration_is_kept() -> None:
    decoded = decode_page(HTML.format(meta='<meta charset="cp1252">').encode("cp1252"))
    assert decoded.encoding == "cp1252" and not decoded.overrode and decoded.replaced == 0


def test_page_with_a_few_invalid_utf8_bytes_is_indexed_and_the_count_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = HTML.format(meta="").encode("utf-8")
    cut = body.index(b"<p>") + 3
    bad = b"\xff\xfe" + body[:cut] + b"\xff\xfe\x80" + body[cut:]  # a BOM-like start, and three in the text
    with HostileSite() as site:
        site.add("/", Page("raw", bad, content_type="text/html"))
        source = WebSource(WebSourceConfig(name="portal", type="web", urls=[f"{site.url}/"], delay=0), fast_settings())
        with caplog.at_level(logging.WARNING, logger="ingest"):
            (raw,) = list(source.fetch({}))
    assert raw.error is None and raw.html is not None
    assert "Configuração da ação" in raw.html and raw.html.count("\ufffd") == 5
    text = _texts(raw.html)  # parses: not refused as binary
    assert "Configuração da ação" in text
    assert any("5 caractere(s) inválido(s)" in r.getMessage() for r in caplog.records)


def test_files_source_reads_a_mislabelled_file(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_bytes(HTML.format(meta='<meta charset="iso-8859-2">').encode("cp1252"))
    (tmp_path / "sources.toml").write_text('[[source]]\nname = "f"\ntype = "files"\npath = "a.html"\n')
    from ingest.sources.config import FilesSourceConfig
    from ingest.sources.files import FilesSource

    settings = fast_settings(sources=tmp_path / "sources.toml")
    (raw,) = list(FilesSource(FilesSourceConfig(name="f", type="files", path="a.html"), settings).fetch({}))
    assert raw.html is not None and "Configuração da ação" in raw.html
