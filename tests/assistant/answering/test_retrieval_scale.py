"""Retrieval at scale: what a snapshot stores for query time, and the candidate path.

Over the default corpus (fake embedder): loading a published snapshot analyzes no chunk,
a snapshot written before index.prepared still opens with the same results, and scoring
only the dense and lexical top candidates ranks, scores and abstains exactly as scoring
every passage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import index.hubs as hubs
import index.prepared as prepared
import index.textutil as textutil
from assistant.answering.pipeline import retrieve
from assistant.answering.retrieval import LoadedSnapshot
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.pipeline import run_ingest
from tests.support.common import write_before_prepared

QUESTIONS = [
    "cliente parado, o que faço?",
    "Quais itens devem ser observados ao revisar os dados do ticket?",
    "quando devo ligar para o cliente?",
    "qual o horário do atendimento do suporte?",
    "O que é o ESN?",
    "como faço um bolo de cenoura?",
]


@pytest.fixture
def assistant(settings: Settings) -> Assistant:
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    return Assistant(settings, embedder)


def _ranked(a: Assistant, question: str, sources: list[str] | None = None) -> tuple[list[int], str, np.ndarray]:
    """The passages in order, the outcome, and the scores, z-scores and hub signal."""
    trace = a.trace(Ask(question, sources=sources))
    values = [v for r in trace.ranked for v in (r.score, r.dense_z, r.lexical_z)]
    return [r.rowid for r in trace.ranked], trace.decision.outcome, np.array([*values, trace.signals.hub])


def _same(got: tuple[list[int], str, np.ndarray], want: tuple[list[int], str, np.ndarray]) -> bool:
    # A candidate's cosine is a float32 product over fewer rows: last-bit noise only.
    return got[:2] == want[:2] and np.allclose(got[2], want[2], rtol=0, atol=1e-5)


def test_loading_a_published_snapshot_analyzes_no_chunk(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = assistant.store.open_current()
    stemmed: list[int] = []
    real = textutil.stem_all
    monkeypatch.setattr(textutil, "stem_all", lambda tokens: stemmed.append(len(tokens)) or real(tokens))
    with monkeypatch.context() as patched:
        fail = lambda *a, **k: pytest.fail("hub baselines computed at load")  # noqa: E731
        patched.setattr(hubs, "hub_baseline", fail)
        patched.setattr(prepared, "hub_neighbours", fail)
        loaded = LoadedSnapshot(snapshot)
    assert stemmed == []  # the stems were stored at publish
    np.testing.assert_allclose(loaded.hub, hubs.hub_baseline(np.asarray(loaded.matrix)), rtol=1e-6)


def test_a_snapshot_written_before_prepared_data_answers_the_same(assistant: Assistant, data_dir: Path) -> None:
    before = [_ranked(assistant, q) for q in QUESTIONS]
    snapshot = assistant.store.open_current()
    snapshot.close()
    # What a snapshot of the previous version holds: no prepared/, no titles table, vectors in FAISS.
    write_before_prepared(snapshot.path)
    assert (snapshot.path / "vectors.faiss").exists() and not (snapshot.path / "prepared").exists()

    old = Assistant(assistant.settings, assistant.embedder)
    assert old.current().prepared.titles is not None  # computed at load, in memory
    assert all(_same(_ranked(old, q), b) for q, b in zip(QUESTIONS, before, strict=True))


@pytest.mark.parametrize("candidates", [25, 40])
def test_the_candidate_path_ranks_scores_and_decides_as_every_passage(assistant: Assistant, candidates: int) -> None:
    loaded = assistant.current()
    assert len(loaded.rowids) > 2 * candidates  # else every passage would be a candidate
    exact = {q: _ranked(assistant, q) for q in QUESTIONS}
    exact_sources = _ranked(assistant, QUESTIONS[0], ["boas-praticas"])
    loaded.exact_max = 0
    retriever = assistant.components.retriever
    retriever.config = dataclasses.replace(retriever.config, candidates=candidates)
    for q in QUESTIONS:
        assert _same(_ranked(assistant, q), exact[q]), q
    assert _same(_ranked(assistant, QUESTIONS[0], ["boas-praticas"]), exact_sources)
    assert retrieve(QUESTIONS[0], assistant.current(), assistant.components, 5, ("nenhuma",))[0] == []


def test_hub_baselines_from_knn_equal_the_all_pairs_definition() -> None:
    import faiss

    rng = np.random.default_rng(3)
    m = rng.standard_normal((400, 16)).astype(np.float32)
    m[1] = m[0] + 1e-4  # a near-copy: not its neighbourhood, either way
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(16)
    index.add(m)
    np.testing.assert_allclose(hubs.hub_baseline_knn(m, index), hubs.hub_baseline(m), rtol=1e-5)


def test_a_large_snapshot_serves_from_its_ivf_index(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "ANN_MIN", 50)  # the default corpus has ~100 passages
    monkeypatch.setattr(hubs, "HUB_EXACT_MAX", 50)
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    manifest = SnapshotStore(settings.data_dir).open_current().manifest
    assert manifest.retrieval["ann_recall_at_100"] >= prepared.ANN_RECALL and manifest.retrieval["nprobe"] >= 1
    a = Assistant(settings, embedder)
    loaded = a.current()
    assert loaded.ann is not None
    loaded.exact_max = 0
    vector = embedder.embed(["cliente parado"], "query")[0]
    exact = np.argsort(-(np.asarray(loaded.matrix) @ vector), kind="stable")[:10]
    assert list(loaded.dense_top(vector, 10, None)) == list(exact)
    assert a.ask(Ask("cliente parado, o que faço?")).citations
