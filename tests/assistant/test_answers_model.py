"""Integration: the real default embedder over the default corpus, every dev question.

Each answer line must be a verbatim excerpt of the chunk its [n] cites, and abstentions must
carry suggestions instead of citations. Runs the real model (marker ``model``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.maintenance.evaluation import load_questions, run_eval
from assistant.render import ABSTAIN_TEXT, POINTER_TEXT
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.factory import make_embedder
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest
from tests.support.common import ROOT, SHARED_EVAL

pytestmark = pytest.mark.model
MARK = re.compile(r"\s\[(\d+)\]$")
SETS = [SHARED_EVAL / "dev.jsonl", SHARED_EVAL / "dev-blind.jsonl"]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    data = tmp_path_factory.mktemp("real-var")
    settings = Settings(
        data_dir=data, sources=ROOT / "corpus" / "sources.toml", glossary=ROOT / "corpus" / "glossary.toml"
    )
    embedder = make_embedder(settings)
    report = run_ingest(settings, embedder)
    assert report.ok and report.published
    return Assistant(settings, embedder)


def _questions() -> list[str]:
    found = [p for p in SETS if p.exists()]
    if not found:
        pytest.skip(f"dev sets not found under {SHARED_EVAL}")
    return [q.question for p in found for q in load_questions(p)]


def test_every_answer_line_is_a_verbatim_excerpt_of_its_citation(real: Assistant) -> None:
    snap = SnapshotStore(real.settings.data_dir).open_current()
    texts = {c.id: c.text for c in snap.all_chunks().values()}
    answered = 0
    for question in _questions():
        answer = real.ask(Ask(question))
        if answer.abstained:
            assert answer.answer.startswith((ABSTAIN_TEXT, POINTER_TEXT)) and not answer.citations
            assert answer.outcome in ("pointer", "refusal")
            assert 1 <= len(answer.suggestions) <= 3
            continue
        answered += 1
        assert answer.citations
        assert len(answer.lines) == len(answer.answer.split("\n")) <= 5
        for line, typed in zip(answer.answer.split("\n"), answer.lines, strict=True):
            m = MARK.search(line)
            assert m, (question, line)
            cited = answer.citations[int(m.group(1)) - 1]
            assert typed.n == cited.n
            if typed.url is None:
                assert line[: m.start()] == typed.text and typed.text in texts[cited.chunk_id], (question, line)
            else:  # a pointer to the linked article: its title and link, never a caption
                assert typed.url == cited.url and typed.text == cited.section.split(" › ")[-1], (question, line)
            assert cited.excerpt and all(part in texts[cited.chunk_id] for part in cited.excerpt.split("\n"))
    assert answered > len(_questions()) // 2


def test_eval_reports_every_figure_and_both_baselines(real: Assistant, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        "\n".join(json.dumps(o, ensure_ascii=False) for o in [
            {"id": "a", "question": "O que é o ESN?", "gold": ["Executivo de Soluções e Negócios"], "kind": "x"},
            {"id": "b", "question": "Como configuro a VPN do escritório?", "gold": [], "kind": "y"},
        ]),
        encoding="utf-8",
    )  # fmt: skip
    result = run_eval(real.settings, real, load_questions(qfile), k=5)
    for key in (
        "recall@1",
        "recall@3",
        "recall@5",
        "mrr@10",
        "answer_hit",
        "first_line_hit",
        "ece",
        "reliability",
        "declined_unanswerable",
        "declined_answerable",
        "p50_ms",
        "p95_ms",
        "baselines",
    ):
        assert key in result, key
    assert set(result["baselines"]) == {"bm25_windows", "dense_windows"}
    assert result["recall@5"] == 1.0 and set(result["by_kind"]) == {"x", "y"}
