"""Evaluation and the publish gate measure the pipeline; they never write the questions log,
so a fresh deployment's gap report after ``bpa eval`` lists no gaps (eval questions that
abstain used to show up as documentation gaps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.maintenance.evaluation import load_questions
from assistant.maintenance.gate import EvaluationGate
from assistant.maintenance.report import GapReporter
from assistant.service import Assistant
from assistant.types import Ask
from bpa.cli import app
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest

QUESTIONS = [
    {"id": "q1", "question": "Cliente parado, o que faço?", "gold": ["Cliente parado"], "kind": "lexical"},
    {"id": "q2", "question": "Qual a cotação do dólar hoje?", "gold": [], "kind": "unanswerable"},
    {"id": "q3", "question": "Quem ganhou a copa de 1970?", "gold": [], "kind": "unanswerable"},
]


def _questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS), encoding="utf-8")
    return path


def test_bpa_eval_leaves_the_gap_report_of_a_fresh_deployment_empty(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    run_ingest(settings, FakeEmbedder())
    result = CliRunner().invoke(app, ["eval", "--questions", str(_questions(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == len(QUESTIONS)  # every question was asked

    assistant = Assistant(settings, FakeEmbedder())
    report = GapReporter(settings, assistant)("7d")
    assert report.totals.questions == 0 and report.gaps == []

    # The same reporter does see a question asked through the service (the check can fail).
    assistant.ask(Ask("Qual a cotação do dólar hoje?"))
    assert GapReporter(settings, assistant)("7d").totals.questions == 1


def test_the_gate_records_nothing(tmp_path: Path, settings: Settings) -> None:
    run_ingest(settings, FakeEmbedder())
    gate = EvaluationGate(settings, FakeEmbedder(), load_questions(_questions(tmp_path)))
    snapshot = SnapshotStore(settings.data_dir).open_current()
    gate(snapshot, snapshot)
    assert GapReporter(settings, Assistant(settings, FakeEmbedder()))("7d").totals.questions == 0
