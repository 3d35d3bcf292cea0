"""The `bpa` command line: outputs, JSON shapes and exit codes (fake embedder, in process)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bpa.cli import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_NO_INDEX, app
from tests.support.common import strip_unit_vectors

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")


def test_commands_before_any_ingest_say_to_run_ingest() -> None:
    for args in (["search", "ticket"], ["ask", "o que é o ESN?"], ["index", "info"]):
        result = runner.invoke(app, args)
        assert result.exit_code == EXIT_NO_INDEX, args
        assert "bpa ingest" in result.output


def test_ingest_search_ask_json_shapes() -> None:
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    hits = json.loads(runner.invoke(app, ["search", "interações públicas", "--json", "-k", "3"]).stdout)
    assert len(hits) == 3
    assert set(hits[0]) == {"chunk_id", "document_id", "title", "section", "url", "text", "score"}
    answer = json.loads(runner.invoke(app, ["ask", "O que é o ESN?", "--json"]).stdout)
    assert {"answer_id", "answer", "abstained", "confidence", "citations", "snapshot"} <= set(answer)
    again = runner.invoke(app, ["ingest"])
    assert again.exit_code == 0 and "0 embeddings" in again.output


def test_bad_questions_exit_with_a_message() -> None:
    runner.invoke(app, ["ingest"])
    result = runner.invoke(app, ["ask", "   "])
    assert result.exit_code == EXIT_CONFIG and "vazia" in result.output


def test_unknown_embedder_setting_is_a_config_error_listing_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "bert-gigante")
    result = runner.invoke(app, ["index", "info"])
    assert result.exit_code == EXIT_CONFIG
    assert "BPA_EMBEDDER: embedder desconhecido 'bert-gigante'; nomes válidos: e5, e5-pt" in result.output
    assert "Traceback" not in result.output


def test_index_list_and_rollback(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    sources = tmp_path / "s.toml"
    sources.write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    ids = []
    for text in ("primeira versão", "segunda versão"):
        page.write_text(f"<h1>P</h1><p>{text}</p>")
        out = runner.invoke(app, ["ingest", "--sources", str(sources)]).output
        ids.append(out.split("snapshot publicado: ")[1].split()[0])
    listing = runner.invoke(app, ["index", "list"]).output
    assert ids[0] in listing and ids[1] in listing
    rolled = runner.invoke(app, ["index", "rollback"])
    assert rolled.exit_code == 0 and ids[0] in rolled.output
    assert json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)["id"] == ids[0]
    assert runner.invoke(app, ["index", "rollback", "--to", "nao-existe"]).exit_code == EXIT_FAILED


def test_sources_check(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["sources", "check"])
    assert ok.exit_code == 0 and "boas-praticas" in ok.output
    bad = tmp_path / "s.toml"
    bad.write_text('[[source]]\nname = "x"\ntype = "files"\npath = "falta.html"\n')
    missing = runner.invoke(app, ["sources", "check", "--sources", str(bad)])
    assert missing.exit_code == EXIT_CONFIG and "não encontrado" in missing.output and "fonte 'x'" in missing.output
    bad.write_text("[[source]]\nname = 3\n")
    assert runner.invoke(app, ["sources", "check", "--sources", str(bad)]).exit_code == EXIT_CONFIG


def test_run_indexes_first_and_reindexes_after_a_model_change(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.serving
    import index.embedding.factory
    from index.embedding.fake import FakeEmbedder
    from index.settings import Settings
    from index.snapshot import SnapshotStore

    served: list[str] = []
    monkeypatch.setattr(bpa.serving, "_serve", lambda settings, embedder=None: served.append(embedder.model_id))
    assert runner.invoke(app, ["run"]).exit_code == 0
    store = SnapshotStore(Settings().data_dir)
    assert store.manifest(store.current_id() or "").model_id == "fake-hash-64"
    monkeypatch.setattr(index.embedding.factory, "make_embedder", lambda settings: FakeEmbedder(dim=32))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "outro modelo" in result.output
    assert store.manifest(store.current_id() or "").model_id == "fake-hash-32"
    assert served == ["fake-hash-64", "fake-hash-32"]


def test_run_loads_the_model_once_to_index_and_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.serving
    import index.embedding.factory
    from index.embedding.fake import FakeEmbedder

    loaded: list[FakeEmbedder] = []

    def load(settings: object) -> FakeEmbedder:
        loaded.append(FakeEmbedder())
        return loaded[-1]

    served: list[object] = []
    monkeypatch.setattr(index.embedding.factory, "make_embedder", load)
    monkeypatch.setattr(bpa.serving, "_serve", lambda settings, embedder=None: served.append(embedder))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "indexando" in result.output
    assert len(loaded) == 1 and served == loaded


def test_run_adds_unit_vectors_to_an_index_from_an_older_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.serving
    from index.settings import Settings
    from index.snapshot import SnapshotStore

    monkeypatch.setattr(bpa.serving, "_serve", lambda settings, embedder=None: None)
    assert runner.invoke(app, ["run"]).exit_code == 0
    store = SnapshotStore(Settings().data_dir)
    old = store.current_id() or ""
    strip_unit_vectors(store.root / old)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "vetores de frases" in result.output
    assert store.current_id() != old and store.manifest(store.current_id() or "").units > 0


# --- the data directory under stress (issue 10, items 4 and 7) ---------------------------


def _ingest_versions(tmp_path: Path, *texts: str) -> list[str]:
    """Publish one snapshot per text of a one-page files source; their ids, oldest first."""
    page = tmp_path / "p.html"
    sources = tmp_path / "s.toml"
    sources.write_text('[[source]]\nname = "p"\ntype = "files"\npath = "p.html"\n')
    ids = []
    for text in texts:
        page.write_text(f"<h1>P</h1><p>{text}</p>")
        result = runner.invoke(app, ["ingest", "--sources", str(sources)])
        assert result.exit_code == 0, result.output
        ids.append(result.output.split("snapshot publicado: ")[1].split()[0])
    return ids


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_rollback_while_an_ingest_runs_is_refused(tmp_path: Path, data_dir: Path) -> None:
    from ingest.pipeline import ingest_lock

    ids = _ingest_versions(tmp_path, "primeira versão", "segunda versão")
    with ingest_lock(data_dir):  # what a running ingest holds
        result = runner.invoke(app, ["index", "rollback"])
    assert result.exit_code == EXIT_BUSY and "outra indexação está em andamento" in result.output
    assert (data_dir / "CURRENT").read_text().strip() == ids[1]
    assert runner.invoke(app, ["index", "rollback"]).exit_code == 0  # once it is done
    assert (data_dir / "CURRENT").read_text().strip() == ids[0]


def test_unwritable_data_dir_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root ignores permissions, so the data dir sits under a regular file: nothing can be written there."""
    blocker = tmp_path / "um-arquivo"
    blocker.write_text("não é um diretório")
    monkeypatch.setenv("BPA_DATA_DIR", str(blocker / "var"))
    for args in (["ingest"], ["index", "rollback"]):
        result = runner.invoke(app, args)
        assert type(result.exception) is SystemExit and result.exit_code == EXIT_FAILED, (args, result.exception)
        assert f"{blocker}/var" in result.output and "não é um diretório" in result.output
    for args, code in ((["index", "info"], EXIT_NO_INDEX), (["index", "list"], 0)):
        result = runner.invoke(app, args)
        assert result.exit_code == code and not isinstance(result.exception, OSError), args


def _disk_full_on_manifest(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    original = Path.write_text

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name == "manifest.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    return "disco cheio", "snapshots/.tmp-"


def _vectors_cannot_be_written(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An I/O error on the passage vectors (prepared/vectors.npy, their only copy)."""
    import numpy as np

    original = np.save

    def save(file: Any, *args: Any, **kwargs: Any) -> None:
        if Path(file).name == "vectors.npy":
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(file))
        original(file, *args, **kwargs)

    monkeypatch.setattr(np, "save", save)
    return "erro de entrada/saída", "snapshots/.tmp-"


def _current_cannot_be_swapped(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The build is complete and renamed into place; only the CURRENT swap fails."""

    def replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))

    monkeypatch.setattr(os, "replace", replace)
    return "somente leitura", "CURRENT"


@pytest.mark.parametrize(
    "inject",
    [_disk_full_on_manifest, _vectors_cannot_be_written, _current_cannot_be_swapped],
    ids=["enospc", "vectors", "current"],
)
def test_failed_write_keeps_the_published_snapshot_and_prints_no_traceback(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, inject: Any
) -> None:
    [published] = _ingest_versions(tmp_path, "primeira versão")
    before = _files(data_dir / "snapshots")
    (tmp_path / "p.html").write_text("<h1>P</h1><p>segunda versão</p>")
    reason, path = inject(monkeypatch)

    result = runner.invoke(app, ["ingest", "--sources", str(tmp_path / "s.toml")])

    assert type(result.exception) is SystemExit and result.exit_code == EXIT_FAILED, result.exception
    assert f"{data_dir}/{path}" in result.output and reason in result.output
    assert (data_dir / "CURRENT").read_text().strip() == published
    assert _files(data_dir / "snapshots") == before  # the failed build left nothing behind
    hits = json.loads(runner.invoke(app, ["search", "versão", "--json"]).stdout)
    assert hits and "primeira versão" in hits[0]["text"]


def test_ingest_shows_source_warnings_masked(tmp_path: Path) -> None:
    from tests.support.standins import SiteStandin

    with SiteStandin() as site, SiteStandin() as other:
        site.add("/docs/index", '<h1>Início</h1><p>Texto.</p><a href="sai">sai</a>')
        site.redirect("/docs/sai", f"{other.url}/perfil/ana.souza@totvs.com.br?cpf=52998224725", status=302)
        sources = tmp_path / "s.toml"
        sources.write_text(
            f'[[source]]\nname = "portal"\ntype = "web"\nurls = ["{site.url}/docs/index"]\n'
            f'allow = ["{site.url}/docs/"]\ndelay = 0\n'
        )
        result = runner.invoke(app, ["ingest", "--sources", str(sources)])
        assert other.requests == []
        skipped = f"{site.url}/docs/sai"
    assert result.exit_code == 0, result.output
    assert "aviso:" in result.output and skipped in result.output and "[EMAIL]" in result.output
    assert "ana.souza@totvs.com.br" not in result.output and "52998224725" not in result.output
