"""Files sources (issue 22, items 5 and 7): a folder is read recursively, a source that
matches nothing stops the run naming it (exit 2), an empty corpus is never gated or
published, and every ingest clears stale temp builds first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpa.cli import EXIT_CONFIG, app
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from index.snapshot import Snapshot, SnapshotStore
from ingest.pipeline import run_ingest
from ingest.sources import ConfigError

runner = CliRunner()


def _page(title: str) -> str:
    body = f"<p>Conteúdo do artigo {title} sobre o Protheus.</p>"
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>"


def _setup(tmp_path: Path, path: str) -> Settings:
    (tmp_path / "sources.toml").write_text(f'[[source]]\nname = "artigos"\ntype = "files"\npath = "{path}"\n')
    return Settings(data_dir=tmp_path / "var", embedder="fake", sources=tmp_path / "sources.toml")


def test_a_folder_source_indexes_its_supported_files_recursively(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub" / "deeper").mkdir(parents=True)
    (docs / ".git").mkdir()
    (docs / "a.html").write_text(_page("A"))
    (docs / "sub" / "b.htm").write_text(_page("B"))
    (docs / "sub" / "deeper" / "c.txt").write_text("Texto simples do artigo C sobre o Protheus.")
    (docs / ".oculto.html").write_text(_page("Oculto"))
    (docs / ".git" / "d.html").write_text(_page("D"))
    (docs / "figura.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    settings = _setup(tmp_path, "docs")
    report = run_ingest(settings, FakeEmbedder())
    assert report.ok and report.published
    keys = [d.key for d in SnapshotStore(settings.data_dir).open_current().documents()]
    assert keys == ["docs/a.html", "docs/sub/b.htm", "docs/sub/deeper/c.txt"]


def test_a_glob_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(_page("A"))
    (tmp_path / ".b.html").write_text(_page("B"))
    settings = _setup(tmp_path, "*.html")
    run_ingest(settings, FakeEmbedder())
    assert [d.key for d in SnapshotStore(settings.data_dir).open_current().documents()] == ["a.html"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("nada/*.html", "nenhum arquivo corresponde"),
        ("vazia", "a pasta não tem arquivos"),
        ("falta.html", "não encontrado"),
    ],
)
def test_a_source_matching_no_file_stops_ingest_and_check_with_exit_2(tmp_path: Path, path: str, reason: str) -> None:
    (tmp_path / "vazia" / ".oculta").mkdir(parents=True)
    (tmp_path / "vazia" / ".oculta" / "x.html").write_text(_page("X"))
    (tmp_path / "vazia" / "notas.docx").write_bytes(b"PK")
    settings = _setup(tmp_path, path)
    with pytest.raises(ConfigError, match=f"fonte 'artigos': path = \"{re.escape(path)}\".*{reason}"):
        run_ingest(settings, FakeEmbedder())
    assert not (settings.data_dir / "snapshots").exists()
    sources = str(tmp_path / "sources.toml")
    for args in (["ingest", "--sources", sources], ["sources", "check", "--sources", sources]):
        result = runner.invoke(app, args, env={"BPA_DATA_DIR": str(settings.data_dir), "BPA_EMBEDDER": "fake"})
        assert result.exit_code == EXIT_CONFIG, result.output
        assert "fonte 'artigos'" in result.output and reason in " ".join(result.output.split())
        assert "Traceback" not in result.output


def test_an_empty_corpus_never_reaches_the_gate(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("")  # fails: empty file
    settings = _setup(tmp_path, "a.html")
    called: list[Snapshot] = []

    def gate(built: Snapshot, served: Snapshot | None) -> object:
        called.append(built)
        raise AssertionError("the gate must not see an empty corpus")

    report = run_ingest(settings, FakeEmbedder(), gate=gate)  # type: ignore[arg-type]
    assert called == [] and not report.published and report.snapshot_id is None
    assert report.errors[-1] == "nenhum documento pôde ser indexado: nenhum snapshot foi publicado"
    assert SnapshotStore(settings.data_dir).ids() == []


def test_every_ingest_removes_stale_temp_builds_first(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(_page("A"))
    settings = _setup(tmp_path, "a.html")
    run_ingest(settings, FakeEmbedder())
    stale = settings.data_dir / "snapshots" / ".tmp-20260101T000000000-dead"
    (stale / "prepared").mkdir(parents=True)
    (stale / "index.sqlite").write_bytes(b"x" * 1000)
    report = run_ingest(settings, FakeEmbedder())  # nothing changed: nothing published
    assert not report.published
    assert not stale.exists()
