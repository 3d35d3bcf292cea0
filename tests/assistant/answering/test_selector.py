"""The learned answer-line selector: committed weights, reordering, the reranker seam, training.

The committed weights (corpus/selector.npz) were trained on public Portuguese QA by
bench/selector/train.py; here they must load (no pickle), be named by their sha256, and
reorder lines the hand-made evidence score gets wrong: a line that restates the question
before the line that answers it. The training script runs end to end on a tiny fixture.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from assistant.answering.config import ComposeConfig
from assistant.answering.evidence import score_units
from assistant.answering.question import asked
from assistant.answering.rerank import RerankerError, SelectorReranker, build_reranker
from assistant.answering.retrieval import Scored
from assistant.answering.selection import select
from assistant.answering.selector import (
    LINE_FEATURES,
    PassageLines,
    SelectorError,
    line_features,
    load_selector,
    question_form,
)
from index.models import Chunk
from index.settings import Settings
from index.textutil import analyze
from index.units import split_units
from tests.support.common import ROOT

WEIGHTS = ROOT / "corpus" / "selector.npz"

QUESTION = "Quantas interações públicas o analista pode fazer antes de ligar para o cliente?"
# The first line is about the question's topic and is a little nearer to it by e5 (the hand
# score min-max scales cosines over the candidates, so a gap of .02 becomes a full point);
# the second holds the count, in words, and more of the question's terms.
TEXT = (
    "O analista registra as interações públicas do ticket.\n"
    "São permitidas até três interações antes de ligar para o cliente."
)
COSINES = {0: np.array([0.86, 0.84])}
# A line that only restates the question, then the one that answers it.
RESTATED = (
    "O analista pode fazer interações públicas com o cliente antes de ligar para ele.\n"
    "O limite é de três mensagens seguidas sem retorno, e depois disso o contato é por telefone."
)


def _scored(text: str = TEXT) -> list[Scored]:
    chunk = Chunk(id="c0", document_id="d", ordinal=0, section_path=("Atendimento", "Interações"), anchor="",
                  url="", text=text)  # fmt: skip
    return [Scored(rowid=0, chunk=chunk, score=1.0, dense=0.85)]


def test_committed_weights_load_and_are_named_by_their_sha256() -> None:
    sel = load_selector(WEIGHTS)
    assert sel.fingerprint == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    assert sel.name == f"selector@{sel.fingerprint[:12]}"
    assert sel.lines.mean.shape == (len(LINE_FEATURES),)
    assert WEIGHTS.stat().st_size <= 5_000_000
    with np.load(WEIGHTS, allow_pickle=False) as z:  # a safe format: no object arrays
        assert all(z[k].dtype != object for k in z.files)


def test_selector_puts_the_answering_line_first_where_the_hand_score_does_not() -> None:
    results = _scored()
    idf = {s: 1.0 for s in analyze(QUESTION + " " + TEXT)}
    cfg = ComposeConfig()
    hand = score_units(results, analyze(QUESTION), idf, cfg, COSINES, asked(QUESTION))
    assert [u.position for u in sorted(hand.units, key=lambda u: -u.score)] == [0, 1]  # the topic line leads
    learned, selection = select(QUESTION, hand, load_selector(WEIGHTS), idf, COSINES, cfg.first_line_passages)
    assert [u.position for u in sorted(learned.units, key=lambda u: -u.score)] == [1, 0]
    assert selection is not None and 0.0 < selection.probability < 1.0
    assert selection.weights == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()  # the trace names the weights
    assert [u.text for u in learned.units] == split_units(TEXT)  # the same lines, verbatim


def test_features_read_the_question_form_and_the_answer_type() -> None:
    assert question_form("Quantas horas tenho para responder?") == "quanto"
    assert question_form("Por que o ticket foi fechado?") == "porque"
    assert question_form("Quando o porto foi ampliado?") == "quando"
    x = line_features(QUESTION, PassageLines(split_units(RESTATED), "Interações", None), {})
    col = {name: i for i, name in enumerate(LINE_FEATURES)}
    assert x.shape == (2, len(LINE_FEATURES))
    assert x[1, col["number_word"]] == 1.0 and x[1, col["quanto_x_number"]] == 1.0
    assert x[0, col["restates"]] > x[1, col["restates"]]


def test_reranker_seam_builds_the_selector_and_names_its_weights(tmp_path: Path) -> None:
    reranker = build_reranker(Settings(data_dir=tmp_path, embedder="fake", reranker="selector"))
    assert isinstance(reranker, SelectorReranker)
    assert reranker.name == load_selector(WEIGHTS).name
    results = _scored()
    assert [r.result for r in reranker.rerank(QUESTION, results)] == results  # passage order kept
    missing = Settings(data_dir=tmp_path, embedder="fake", reranker="selector", selector_weights=tmp_path / "x.npz")
    with pytest.raises(RerankerError, match="pesos do seletor não encontrados"):
        build_reranker(missing)


def test_weights_of_other_features_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "old.npz"
    np.savez(bad, version=np.array("selector-features-0"), line_features=np.array(["cos"]))
    with pytest.raises(SelectorError, match="outra versão"):
        load_selector(bad)


def test_training_runs_end_to_end_on_the_tiny_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.selector import train

    out = tmp_path / "sel.npz"
    assert train.main(["--fixture", "--weights", str(out)]) == 0
    printed = capsys.readouterr().out  # the data build's one-line summary, then the training report
    report = json.loads(printed[printed.index("{\n") :])
    sel = load_selector(out)
    assert report["fingerprint"] == sel.fingerprint
    assert report["line_model"] in report["line_cv"] and 0.0 <= report["line_cv"]["first line"]["top1"] <= 1.0
    assert report["passage_model"] in report["passage_cv"]
    assert len(sel.score_lines(QUESTION, PassageLines(split_units(TEXT), "", None), {})) == 2
