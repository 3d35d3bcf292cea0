"""The reranking seam: registry, identity default, and a cross-encoder loaded from a directory.

The cross-encoder is built here, with random weights (a 2-layer BERT of width 32 and a
WordPiece vocabulary of the test's own words), and saved to a temp dir: nothing is
downloaded, and the test proves the wiring, not a model's quality.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from assistant.answering.rerank import (
    RERANKERS,
    CrossEncoderReranker,
    IdentityReranker,
    Reranker,
    RerankerError,
    build_reranker,
    reorder,
)
from assistant.answering.retrieval import Scored
from index.models import Chunk
from index.settings import Settings
from index.textutil import fold

QUESTION = "Quantas interações públicas posso fazer sem ligar para o cliente?"
PASSAGES = [
    (("Atendimento", "Interações"), "Não deve haver mais do que 3 interações públicas sem contato telefônico."),
    (("Atendimento", "E-mail"), "Threads internas de e-mail ficam registradas como nota interna no ticket."),
    (("Status", "Pendente"), "Use o status pendente quando aguardar retorno do cliente."),
    (("Encerramento",), "O ticket é resolvido com a solicitação da pesquisa de satisfação."),
    (("Contato", "Telefone"), "Ligue para o cliente quando o caso estiver parado há mais de dois dias."),
    (("FAQ", "O que é o ESN?"), "O ESN é o executivo de negócios responsável pela conta do cliente."),
]


def _results() -> list[Scored]:
    out = []
    for i, (path, text) in enumerate(PASSAGES):
        chunk = Chunk(id=f"c{i}", document_id="d", ordinal=i, section_path=path, anchor="", url="", text=text)
        out.append(Scored(rowid=i, chunk=chunk, score=1.0 - 0.1 * i))
    return out


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "var", embedder="fake", **kw)


def _save_bert(directory: Path, *, classifier: bool) -> None:
    """A tiny random BERT (with a 1-label classification head, or bare) and its tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    words = {w for _, t in PASSAGES for w in re.findall(r"\w+", fold(t))} | set(re.findall(r"\w+", fold(QUESTION)))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", "›", *sorted(words)]
    directory.mkdir(parents=True)
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=1,
        initializer_range=0.5,  # wide random weights: well-separated scores, no near-ties
    )  # fmt: skip
    torch.manual_seed(11)
    model = BertForSequenceClassification(config) if classifier else BertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reranker") / "tiny-ce"
    _save_bert(directory, classifier=True)
    return directory


def _own_scores(directory: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    """The cross-encoder's own scores, from a CrossEncoder loaded independently of bpa."""
    from sentence_transformers import CrossEncoder

    return np.asarray(CrossEncoder(str(directory), device="cpu", local_files_only=True).predict(pairs))


# --- registry and identity ---------------------------------------------------------


def test_default_is_identity_and_keeps_the_fused_order(tmp_path: Path) -> None:
    reranker = build_reranker(_settings(tmp_path))
    assert isinstance(reranker, IdentityReranker)
    results = _results()
    reranked = reranker.rerank(QUESTION, results)
    assert [r.result for r in reranked] == results
    assert all(a.result is b for a, b in zip(reranked, results, strict=True))
    assert all(r.score is None for r in reranked)


def test_unknown_reranker_names_every_valid_one(tmp_path: Path) -> None:
    with pytest.raises(RerankerError) as err:
        build_reranker(_settings(tmp_path, reranker="llm"))
    assert "'llm'" in str(err.value)
    for name in RERANKERS:
        assert name in str(err.value)


def test_cross_encoder_without_a_path_says_which_setting(tmp_path: Path) -> None:
    with pytest.raises(RerankerError, match="BPA_RERANKER_PATH"):
        build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=None))


def test_cross_encoder_with_a_missing_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nao-existe"
    with pytest.raises(RerankerError, match="não existe") as err:
        build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=missing))
    assert str(missing) in str(err.value)


def test_a_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vazio").mkdir()
    with pytest.raises(RerankerError, match="não é um diretório de modelo"):
        build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=tmp_path / "vazio"))


def test_an_embedding_model_is_not_taken_for_a_cross_encoder(tmp_path: Path) -> None:
    # sentence-transformers would load it, bolting on a random head: scores would be noise.
    _save_bert(tmp_path / "bi-encoder", classifier=False)
    with pytest.raises(RerankerError, match="não é um cross-encoder"):
        build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=tmp_path / "bi-encoder"))


# --- the cross-encoder wiring --------------------------------------------------------


def test_cross_encoder_orders_by_its_own_scores(tmp_path: Path, cross_encoder_dir: Path) -> None:
    reranker = build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=cross_encoder_dir))
    assert isinstance(reranker, CrossEncoderReranker)
    assert isinstance(reranker, Reranker)
    assert reranker.name.startswith("cross-encoder:tiny-ce@")

    results = _results()
    pairs = [(QUESTION, f"{' › '.join(path)}\n{text}") for path, text in PASSAGES]
    own = _own_scores(cross_encoder_dir, pairs)
    assert len(set(np.round(own, 5))) == len(own), "the toy model should not produce ties"
    # Feed the passages worst-first by the model's own scores: keeping the input order
    # (what the identity does) cannot pass.
    worst_first = [results[i] for i in np.argsort(own)]
    fused = [r.score for r in worst_first]

    reranked = reranker.rerank(QUESTION, worst_first)

    assert sorted(id(r.result) for r in reranked) == sorted(id(r) for r in worst_first)  # a permutation
    assert [r.result.rowid for r in reranked] == [int(i) for i in np.argsort(-own)]
    assert [r.score for r in reranked] == pytest.approx([float(own[i]) for i in np.argsort(-own)], abs=1e-5)
    assert [r.score for r in worst_first] == fused  # the fused score is left alone
    assert reorder(reranker, QUESTION, worst_first) == [r.result for r in reranked]


def test_cross_encoder_rescores_only_its_depth(tmp_path: Path, cross_encoder_dir: Path) -> None:
    settings = _settings(tmp_path, reranker="cross-encoder", reranker_path=cross_encoder_dir, reranker_depth=3)
    reranker = build_reranker(settings)
    results = _results()
    own = _own_scores(cross_encoder_dir, [(QUESTION, r.chunk.embed_text) for r in results])
    worst_first = [results[i] for i in np.argsort(own)]

    reranked = reranker.rerank(QUESTION, worst_first)

    head = sorted(worst_first[:3], key=lambda r: -own[r.rowid])
    assert [r.result for r in reranked[:3]] == head
    assert [r.result for r in reranked[3:]] == worst_first[3:]  # below the depth: fused order
    assert [r.score for r in reranked[3:]] == [None, None, None]


def test_small_batches_score_like_one_batch(tmp_path: Path, cross_encoder_dir: Path) -> None:
    one = build_reranker(_settings(tmp_path, reranker="cross-encoder", reranker_path=cross_encoder_dir))
    assert isinstance(one, CrossEncoderReranker)
    batched = CrossEncoderReranker(one._model, one.name, depth=10, batch_size=2)
    a, b = one.rerank(QUESTION, _results()), batched.rerank(QUESTION, _results())
    assert [r.result.rowid for r in a] == [r.result.rowid for r in b]
    assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-5)
