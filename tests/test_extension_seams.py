"""A new source type and a new embedder take one module and one registry line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.service import Assistant
from index.embedding import registry
from index.embedding.factory import make_embedder
from index.embedding.registry import EmbedderType
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest
from ingest.sources import ConfigError, load_sources
from ingest.sources.config import SOURCE_TYPES, SourceType
from tests.support.toy_embedder import ToyEmbedder
from tests.support.toy_source import ToySourceConfig

SOURCES = """\
[[source]]
name = "brinquedo"
type = "toy"

[[source.pages]]
title = "Cliente parado"
text = "Quando o cliente ficar parado por mais de dois dias, envie um lembrete pelo portal."

[[source.pages]]
title = "Encerramento"
text = "Antes de encerrar o ticket, confirme a solução com o solicitante."
"""


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one registry line each:
    monkeypatch.setitem(SOURCE_TYPES, "toy", SourceType(ToySourceConfig, "tests.support.toy_source:ToySource"))
    monkeypatch.setitem(registry.EMBEDDERS, "toy", EmbedderType("tests.support.toy_embedder:load_toy", "test toy"))


def _sources_file(tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return path


def _settings(tmp_path: Path, data_dir: Path) -> Settings:
    sources = _sources_file(tmp_path)
    glossary = tmp_path / "glossary.toml"
    glossary.write_text("", encoding="utf-8")
    return Settings(data_dir=data_dir, sources=sources, glossary=glossary, embedder="toy")


def test_toy_source_and_embedder_ingest_and_search(toy_registered: None, tmp_path: Path, data_dir: Path) -> None:
    settings = _settings(tmp_path, data_dir)
    embedder = make_embedder(settings)
    assert isinstance(embedder, ToyEmbedder)

    report = run_ingest(settings, embedder)
    assert report.ok
    manifest = SnapshotStore(data_dir).open_current().manifest
    assert manifest.model_id == "toy-trigram-48"
    assert manifest.sources["brinquedo"].documents == 2

    before = embedder.texts_embedded
    hits = Assistant(settings, embedder).search("cliente parado há dois dias", k=2)
    assert embedder.texts_embedded > before  # the query went through the toy embedder
    assert hits[0].url.startswith("https://toy.example/0")
    assert "lembrete pelo portal" in hits[0].text


def test_unregistered_type_and_embedder_are_refused_with_the_valid_names(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"tipo desconhecido \(use files, confluence, zendesk ou web\)"):
        load_sources(_sources_file(tmp_path))
    valid = "nomes válidos: e5, e5-pt, minilm, use, st, fake, fake-384 "
    with pytest.raises(ValueError, match=f"embedder desconhecido 'toy'; {valid}"):
        _settings(tmp_path, data_dir)


def test_registered_type_names_itself_in_errors(toy_registered: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nname = "x"\ntype = "tyo"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tipo desconhecido \(use files, confluence, zendesk, web ou toy\)"):
        load_sources(bad)
