"""The Assistant over a real snapshot of the default corpus (fake embedder: fast, deterministic)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assistant.answering.pipeline as pipeline
import assistant.state.guarded as state_module
from assistant.answering.decide import ConfidenceConfig
from assistant.answering.evidence import score_units
from assistant.errors import IncompatibleSnapshot, InvalidQuestion, UnknownAnswer, UnknownDocument
from assistant.render import ABSTAIN_TEXT
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.errors import NoSnapshotError
from index.settings import Settings
from index.snapshot import SnapshotStore
from index.units import split_units
from ingest.pipeline import run_ingest
from tests.support.common import strip_unit_vectors

MARK = re.compile(r"\s\[(\d+)\]$")


@pytest.fixture
def assistant(settings: Settings) -> Assistant:
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    return Assistant(settings, embedder)


def test_no_index_raises_no_snapshot(settings: Settings) -> None:
    a = Assistant(settings, FakeEmbedder())
    assert a.snapshot_id is None
    with pytest.raises(NoSnapshotError):
        a.ask(Ask("cliente parado, o que faço?"))


@pytest.mark.parametrize("bad", ["", "   \n\t", "?!... 123", "x" * 2001])
def test_invalid_questions_are_refused_in_portuguese(assistant: Assistant, bad: str) -> None:
    with pytest.raises(InvalidQuestion) as e:
        assistant.ask(Ask(bad))
    assert e.value.field == "question"
    assert any(w in e.value.message for w in ("vazia", "limite", "palavra"))


def test_search_returns_typed_hits_with_deep_links(assistant: Assistant) -> None:
    hits = assistant.search("interações públicas sem contato telefônico", k=3)
    assert len(hits) == 3
    assert any("3 interações públicas" in h.text for h in hits)
    top = hits[0]
    assert top.title == "Boas Práticas do Suporte"
    assert not top.section.startswith("Boas Práticas do Suporte")  # title is shown apart
    assert "#" in top.url and top.url.startswith("http")
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_answer_sentences_are_verbatim_cited_excerpts(assistant: Assistant) -> None:
    answer = assistant.ask(Ask("Quantas interações públicas por escrito pode haver no ticket sem contato telefônico?"))
    if answer.abstained:  # the fake embedder may not convince the abstention model
        assert answer.answer.startswith(ABSTAIN_TEXT) and answer.suggestions and not answer.citations
        return
    snap = SnapshotStore(assistant.settings.data_dir).open_current()
    texts = {c.id: c.text for c in snap.all_chunks().values()}
    for line in answer.answer.split("\n"):
        m = MARK.search(line)
        assert m, line
        citation = answer.citations[int(m.group(1)) - 1]
        assert line[: m.start()] in texts[citation.chunk_id]


def test_ask_records_masked_question_and_accepts_feedback(assistant: Assistant) -> None:
    answer = assistant.ask(Ask("cliente 123.456.789-09 (joao@cliente.com.br) parado, o que faço?"))
    assert "123.456.789-09" not in answer.question and "[CPF]" in answer.question
    stored = assistant.state.questions()[-1]
    assert stored["answer_id"] == answer.answer_id and "[EMAIL]" in stored["question"]
    assistant.feedback(answer.answer_id, True, "ótimo, me liga 11 98765-4321")
    fb = assistant.state.feedback()[-1]
    assert fb["helpful"] == 1 and "98765" not in fb["comment"]
    with pytest.raises(UnknownAnswer):
        assistant.feedback("nao-existe", False)


def test_sources_filter(assistant: Assistant) -> None:
    assert assistant.search("ticket", k=3, sources=["boas-praticas"])
    assert assistant.search("ticket", k=3, sources=["outra-fonte"]) == []


def test_suggest_cleans_ticket_text_and_returns_checklist(assistant: Assistant) -> None:
    description = (
        "<p>Bom dia, o cliente está parado, operação parada sem contorno.</p>"
        "<p>Atenciosamente,<br>Fulano - (11) 3456-7890</p>"
        "<blockquote>Em 10/10 Beltrano escreveu: interações públicas interações públicas</blockquote>"
    )
    s = assistant.suggest("Cliente parado no faturamento", description, ["protheus"])
    assert s.results and any("Cliente parado" in h.section for h in s.results)
    assert "Se o ticket está com a marca TOTVS;" in s.checklist


def test_document_view_has_sections_with_text(assistant: Assistant) -> None:
    doc_id = assistant.search("ESN", k=1)[0].document_id
    view = assistant.document(doc_id)
    esn = next(s for s in view.sections if s.title == "O que é o ESN?")
    assert "Executivo de Soluções e Negócios" in esn.text
    assert esn.url.startswith(view.url + "#")
    with pytest.raises(UnknownDocument):
        assistant.document("nope")


def test_hot_swap_to_a_new_snapshot(tmp_path: Path, data_dir: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.html").write_text("<h1>A</h1><h2>Prazo</h2><p>O prazo antigo é de dez dias.</p>")
    (corpus / "s.toml").write_text('[[source]]\nname = "a"\ntype = "files"\npath = "a.html"\n')
    s = Settings(data_dir=data_dir, sources=corpus / "s.toml", embedder="fake", reload_interval=0.05)
    e = FakeEmbedder()
    first = run_ingest(s, e).snapshot_id
    a = Assistant(s, e)
    assert a.snapshot_id == first
    errors: list[Exception] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                a.search("prazo", k=1)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    (corpus / "a.html").write_text("<h1>A</h1><h2>Prazo</h2><p>O prazo novo é de cinco dias.</p>")
    second = run_ingest(s, e).snapshot_id
    import time

    deadline = time.monotonic() + 2
    while a.snapshot_id != second and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join()
    assert a.snapshot_id == second and not errors
    assert "cinco" in a.search("prazo", k=1)[0].text


def test_snapshot_from_another_model_is_refused_clearly(settings: Settings) -> None:
    run_ingest(settings, FakeEmbedder(dim=64))
    other = FakeEmbedder(dim=32)
    with pytest.raises(IncompatibleSnapshot, match="ingest --full"):
        Assistant(settings, other).ask(Ask("cliente parado?"))


def test_broken_new_snapshot_keeps_the_old_one_served(assistant: Assistant) -> None:
    first = assistant.snapshot_id
    store = SnapshotStore(assistant.settings.data_dir)
    broken = store.root / "29991231T000000000-dead"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    (assistant.settings.data_dir / "CURRENT").write_text(broken.name)
    import time

    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert assistant.search("prazo", k=1)  # keeps answering from the old snapshot
        time.sleep(0.05)
    assert assistant.snapshot_id == first


def test_repeated_questions_reuse_the_query_embedding(settings: Settings) -> None:
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    a = Assistant(settings, embedder)
    before = embedder.texts_embedded
    a.ask(Ask("cliente parado, o que faço?"))
    a.ask(Ask("cliente parado, o que faço?"))
    a.search("cliente parado, o que faço?")
    assert embedder.texts_embedded - before == 1
    uncached = Assistant(settings.model_copy(update={"query_cache_size": 0}), embedder)
    before = embedder.texts_embedded
    uncached.ask(Ask("cliente parado, o que faço?"))
    uncached.ask(Ask("cliente parado, o que faço?"))
    assert embedder.texts_embedded - before == 2


def _always_answering(settings: Settings) -> Assistant:
    return Assistant(settings, FakeEmbedder(), abstaining=ConfidenceConfig(threshold=0.0))


def test_answers_score_units_with_the_snapshot_unit_vectors(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, FakeEmbedder())
    seen: list[dict[int, Any] | None] = []

    def spy(results: list[Any], stems: list[str], idf: dict[str, float], cfg: Any, cos: Any, asked: Any) -> Any:
        seen.append(cos)
        return score_units(results, stems, idf, cfg, cos, asked)

    monkeypatch.setattr(pipeline, "score_units", spy)
    answer = _always_answering(settings).ask(Ask("cliente parado, o que faço?"))
    [cosines] = seen
    assert cosines and not answer.abstained
    snap = SnapshotStore(settings.data_dir).open_current()
    query = FakeEmbedder().embed([_expanded(settings)], "query")[0]
    for rowid, values in cosines.items():
        assert len(values) == len(split_units(snap.chunks([rowid])[rowid].text))
        np.testing.assert_allclose(values, snap.units_of(rowid) @ query, rtol=1e-5)


def _expanded(settings: Settings) -> str:
    a = Assistant(settings, FakeEmbedder())
    question = "cliente parado, o que faço?"
    return a.components.retriever.prepare(question, a.glossary.expand(question)).expanded


def test_snapshot_without_unit_vectors_still_answers_verbatim(settings: Settings) -> None:
    report = run_ingest(settings, FakeEmbedder())
    strip_unit_vectors(settings.data_dir / "snapshots" / (report.snapshot_id or ""))
    answer = _always_answering(settings).ask(Ask("cliente parado, o que faço?"))
    assert not answer.abstained and answer.citations
    snap = SnapshotStore(settings.data_dir).open_current()
    texts = {c.id: c.text for c in snap.all_chunks().values()}
    assert all(line in texts[c.chunk_id] for c in answer.citations for line in c.excerpt.split("\n"))


def test_concurrent_first_requests_open_the_state_store_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    real = state_module.open_store

    def slow_store(path: Path) -> Any:
        time.sleep(0.05)  # widen the window in which a second thread could also open it
        store = real(path)
        opened.append(store)
        return store

    monkeypatch.setattr(state_module, "open_store", slow_store)
    a = Assistant(settings, FakeEmbedder())
    barrier = threading.Barrier(8)
    seen: list[object] = []

    def first_use() -> None:
        barrier.wait()
        seen.append(a.state)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1 and all(s is opened[0] for s in seen) and len(seen) == 8


def test_document_view_shows_each_sections_text_once(assistant: Assistant) -> None:
    # The page's opening text and a section titled like the page share a path: text is
    # grouped by path and anchor, or the opening text shows up under both.
    doc_id = assistant.search("cliente parado", k=1)[0].document_id
    view = assistant.document(doc_id)
    texts = [s.text for s in view.sections if s.text]
    assert texts and len(texts) == len(set(texts))
