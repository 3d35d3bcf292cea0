"""The `bpa` command line: outputs, JSON shapes and exit codes (fake embedder, in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bpa_testing import strip_unit_vectors
from typer.testing import CliRunner

from bpa.cli import EXIT_CONFIG, EXIT_FAILED, EXIT_NO_INDEX, app

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
    assert missing.exit_code == EXIT_FAILED and "não encontrado" in missing.output
    bad.write_text("[[source]]\nname = 3\n")
    assert runner.invoke(app, ["sources", "check", "--sources", str(bad)]).exit_code == EXIT_CONFIG


def test_run_indexes_first_and_reindexes_after_a_model_change(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.cli
    import index.embedding.registry
    from index.embedding.fake import FakeEmbedder
    from index.settings import Settings
    from index.snapshot import SnapshotStore

    served: list[str] = []
    monkeypatch.setattr(bpa.cli, "_serve", lambda settings, embedder=None: served.append(embedder.model_id))
    assert runner.invoke(app, ["run"]).exit_code == 0
    store = SnapshotStore(Settings().data_dir)
    assert store.manifest(store.current_id() or "").model_id == "fake-hash-64"
    monkeypatch.setattr(index.embedding.registry, "make_embedder", lambda settings: FakeEmbedder(dim=32))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "outro modelo" in result.output
    assert store.manifest(store.current_id() or "").model_id == "fake-hash-32"
    assert served == ["fake-hash-64", "fake-hash-32"]


def test_run_loads_the_model_once_to_index_and_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.cli
    import index.embedding.registry
    from index.embedding.fake import FakeEmbedder

    loaded: list[FakeEmbedder] = []

    def load(settings: object) -> FakeEmbedder:
        loaded.append(FakeEmbedder())
        return loaded[-1]

    served: list[object] = []
    monkeypatch.setattr(index.embedding.registry, "make_embedder", load)
    monkeypatch.setattr(bpa.cli, "_serve", lambda settings, embedder=None: served.append(embedder))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "indexando" in result.output
    assert len(loaded) == 1 and served == loaded


def test_run_adds_unit_vectors_to_an_index_from_an_older_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpa.cli
    from index.settings import Settings
    from index.snapshot import SnapshotStore

    monkeypatch.setattr(bpa.cli, "_serve", lambda settings, embedder=None: None)
    assert runner.invoke(app, ["run"]).exit_code == 0
    store = SnapshotStore(Settings().data_dir)
    old = store.current_id() or ""
    strip_unit_vectors(store.root / old)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0 and "vetores de frases" in result.output
    assert store.current_id() != old and store.manifest(store.current_id() or "").units > 0
