"""The evaluation gate (issue 13, item 2): a build that answers the golden questions worse
than the served snapshot is kept aside, the served one keeps serving, --force publishes it.

Driven through the CLI (in process) on a copy of the default corpus with the fake embedder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.maintenance.evaluation import load_questions
from assistant.service import Assistant
from bpa.cli import EXIT_CONFIG, EXIT_FAILED, app
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from index.snapshot import SnapshotStore
from tests.support.common import ROOT, SEED

runner = CliRunner()
GOLDEN = ROOT / "corpus" / "golden.jsonl"
# The FAQ entry about SMART customers: golden questions g-06 and g-18 are answered from it.
SMART_FIRST, SMART_LAST = "Cliente SMART com ambiente desatualizado", "na página SmartERP"


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the default page and its sources file, the fake embedder, the shipped golden set."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    sources = folder / "sources.toml"
    sources.write_text(f'[[source]]\nname = "boas-praticas"\ntype = "files"\npath = "{SEED.name}"\n')
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    monkeypatch.setenv("BPA_SOURCES", str(sources))
    monkeypatch.setenv("BPA_GOLDEN", str(GOLDEN))
    return folder / SEED.name


def _delete_lines(page: Path, first: str, last: str) -> None:
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i, line in enumerate(lines) if last in line)
    assert start < end and not any("<" in line for line in lines[start : end + 1]), "deleting text only"
    page.write_text("".join(lines[:start] + lines[end + 1 :]), encoding="utf-8")


def _published(output: str) -> str:
    return output.split("snapshot publicado: ")[1].split()[0]


def test_starter_golden_set_is_twenty_questions_whose_gold_is_on_the_default_page() -> None:
    from index.textutil import collapse_ws, fold

    questions = load_questions(GOLDEN)
    assert len(questions) == 20 and len({q.id for q in questions}) == 20
    assert any(q.must for q in questions)
    page = collapse_ws(fold(" ".join(SEED.read_text(encoding="utf-8").split())))
    for q in questions:
        assert q.gold and all(collapse_ws(fold(g)) in page for g in q.gold), q.id


def test_gate_refuses_a_build_that_lost_a_needed_section_and_force_publishes_it(corpus: Path, data_dir: Path) -> None:
    first = runner.invoke(app, ["ingest"])
    assert first.exit_code == 0, first.output
    served = _published(first.output)
    assert "portão de avaliação: aprovado" in first.output

    _delete_lines(corpus, SMART_FIRST, SMART_LAST)
    refused = runner.invoke(app, ["ingest"])
    assert refused.exit_code == EXIT_FAILED, refused.output
    message = " ".join(refused.output.split())
    assert "o portão de avaliação recusou o snapshot" in message
    assert "recall@5 caiu de 1.000 para 0.900" in message
    assert "g-06 (O que é o Smart da TOTVS?)" in message and "g-18 (" in message
    assert f"O snapshot {served} continua publicado" in message and "bpa ingest --force" in message
    assert "Traceback" not in refused.output

    # The old snapshot keeps serving: the pointer, and an assistant answering from it.
    info = json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)
    assert info["id"] == served and info["gate"]["passed"] is True
    # The manifest names the answering pipeline the figures were measured with.
    assert info["gate"]["reranker"] == "identity" and len(info["gate"]["pipeline"]) == 16
    settings = Settings()
    hits = Assistant(settings, FakeEmbedder()).search("Smart Software as a Service", k=3)
    assert hits and "O Smart é um Software as a Service" in hits[0].text

    store = SnapshotStore(data_dir)
    [rejected] = store.rejected_ids()
    assert rejected not in store.ids()  # kept aside: neither served nor a rollback target
    gate = store.rejected_manifest(rejected).gate
    assert gate is not None and not gate.passed and gate.served_id == served
    assert gate.served is not None and (gate.candidate["recall@5"], gate.served["recall@5"]) == (0.9, 1.0)
    assert {"g-06", "g-18"} <= set(gate.broken)
    listing = " ".join(runner.invoke(app, ["index", "list"], env={"COLUMNS": "300"}).output.split())
    assert "rejeitado" in listing and rejected in listing and "recusado 0.900/" in listing

    forced = runner.invoke(app, ["ingest", "--force"])
    assert forced.exit_code == 0, forced.output
    now = _published(forced.output)
    assert now not in (served, rejected)
    manifest = json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)
    assert manifest["id"] == now and manifest["gate"]["forced"] is True and manifest["gate"]["passed"] is False
    info_lines = [" ".join(line.split()) for line in runner.invoke(app, ["index", "info"]).output.splitlines()]
    assert "resultado recusado, publicado com --force" in info_lines
    assert "recall@5 0.900 (publicado 1.000)" in info_lines and f"comparado com {served}" in info_lines


def test_a_must_question_that_stops_being_answered_refuses_the_build(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alone, losing this one question is a drop of 1/20 = max_drop: allowed unless it is a must.
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    replay = next(json.loads(line) for line in lines if '"g-10"' in line)
    assert replay.get("must") is not True
    golden = tmp_path / "golden.jsonl"
    for must in (False, True):
        rows = [line for line in lines if '"g-10"' not in line] + [json.dumps({**replay, "must": must})]
        golden.write_text("\n".join(rows) + "\n", encoding="utf-8")
        monkeypatch.setenv("BPA_GOLDEN", str(golden))
        page = corpus.read_text(encoding="utf-8")
        assert runner.invoke(app, ["ingest"]).exit_code == 0
        _delete_lines(corpus, "Temos alguma ferramenta para reproduzir igual ao cliente", "totvs replay atende")
        result = runner.invoke(app, ["ingest"])
        message = " ".join(result.output.split())
        if must:
            assert result.exit_code == EXIT_FAILED, message
            assert "a pergunta obrigatória g-10 deixou de ser respondida com o trecho esperado" in message
        else:
            assert result.exit_code == 0 and "portão de avaliação: aprovado" in message, message
        corpus.write_text(page, encoding="utf-8")  # back to the full page for the next round


def test_malformed_golden_file_is_a_config_error(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "golden.jsonl"
    bad.write_text('{"id": "x", "question": \n', encoding="utf-8")
    monkeypatch.setenv("BPA_GOLDEN", str(bad))
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == EXIT_CONFIG and "golden.jsonl:1: linha inválida" in result.output
    assert "Traceback" not in result.output
