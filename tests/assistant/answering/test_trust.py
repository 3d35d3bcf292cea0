"""The decision stage end to end on small pages (fake embedder): the evidence-type rule,
exact titles, the three outcomes and the calibration file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assistant.answering.calibration import Calibration, CalibrationError, load_calibration, write_calibration
from assistant.answering.config import ComposeConfig
from assistant.answering.decide import ConfidenceConfig, Signals, decide
from assistant.answering.question import FactKind, asked, asked_kinds, holds
from assistant.answering.rerank import Reranked
from assistant.answering.retrieval import FusionConfig, Scored
from assistant.maintenance.evaluation import calibration
from assistant.render import POINTER_TEXT
from assistant.service import Assistant
from assistant.types import Ask
from index.embedding.fake import FakeEmbedder
from index.settings import Settings
from ingest.pipeline import run_ingest

# Always confident: only the rules under test can keep an answer from being shown.
CONFIDENT = ConfidenceConfig(weights=(), bias=10.0)

PHONE_ETIQUETTE = """
<h1>Atendimento telefônico</h1>
<h2>Telefone do suporte</h2>
<p>Atenda o telefone do suporte com cordialidade e registre a ligação no ticket.</p>
<p>Confirme o nome do cliente antes de transferir a ligação do suporte.</p>
<h2>Ticket</h2>
<p>Todo ticket deve ter o catálogo preenchido.</p>
"""
PHONE_NUMBER = PHONE_ETIQUETTE.replace(
    "<h2>Ticket</h2>", "<p>O telefone do suporte para clientes é 0800 709 8100.</p>\n<h2>Ticket</h2>"
)


def _assistant(tmp_path: Path, settings: Settings, html: str, cfg: ConfidenceConfig = CONFIDENT) -> Assistant:
    (tmp_path / "page.html").write_text(f"<html><body>{html}</body></html>", encoding="utf-8")
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nname = "p"\ntype = "files"\npath = "page.html"\ntitle = "Guia"\n', encoding="utf-8"
    )
    s = settings.model_copy(update={"sources": tmp_path / "sources.toml"})
    embedder = FakeEmbedder()
    run_ingest(s, embedder)
    return Assistant(s, embedder, abstaining=cfg)


def test_a_phone_question_is_not_answered_by_evidence_without_a_number(tmp_path: Path, settings: Settings) -> None:
    answer = _assistant(tmp_path, settings, PHONE_ETIQUETTE).ask(Ask("qual o telefone do suporte?"))
    assert answer.abstained and answer.outcome == "pointer"
    assert answer.answer.startswith(POINTER_TEXT) and answer.suggestions and not answer.citations


def test_a_phone_question_is_answered_when_the_page_has_the_number(tmp_path: Path, settings: Settings) -> None:
    answer = _assistant(tmp_path, settings, PHONE_NUMBER).ask(Ask("qual o telefone do suporte?"))
    assert answer.outcome == "answer" and not answer.abstained
    assert "0800 709 8100" in answer.lines[0].text


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("qual o 0800 do suporte?", {FactKind.PHONE}),
        ("preciso ligar por telefone pro cliente?", set()),  # mentions a phone, asks for none
        ("Quantas horas de SLA tem um ticket de criticidade alta?", {FactKind.DURATION}),
        ("qual o SLA em horas pra prioridade alta?", {FactKind.DURATION}),
        ("qtas interacoes publicas posso fazer sem ligar?", {FactKind.COUNT}),
        ("ate quando a release 12.1.33 tem suporte?", {FactKind.DATE}),
        ("Quanto custa o serviço da equipe HUB?", {FactKind.VALUE}),
        ("qual o e-mail do time de RH?", {FactKind.EMAIL}),
        ("cliente parado, o que faço?", set()),
    ],
)
def test_the_kind_of_fact_a_question_asks_for(question: str, kinds: set[FactKind]) -> None:
    assert asked_kinds(question) == kinds


def test_a_count_needs_a_number_of_the_thing_counted() -> None:
    q = asked("quantas interações públicas posso fazer?")
    assert holds("não deve haver mais do que 3 interações públicas por escrito", FactKind.COUNT, q.counted)
    assert not holds("consulte seus GAPs pelo menos 1 x por semana", FactKind.COUNT, q.counted)
    assert holds("O prazo é de 15 dias", FactKind.DURATION)
    assert not holds("O prazo é medido pelo SLA", FactKind.DURATION)


def test_fact_patterns_are_linear_on_long_input() -> None:
    # Quadratic patterns take seconds on 20k characters; these must stay at a few ms.
    for text in ("1" * 20_000, "a" * 20_000, "1 " * 10_000, "a@" * 10_000):
        for kind in FactKind:
            holds(text, kind, "interaco")


EXACT = """
<h1>Perguntas</h1>
<h2>Quando orientar o ESN????</h2>
<p>Oriente o ESN quando o cliente quiser treinamento do ESN; o ESN ajuda com o ESN do cliente e o que é o ESN.</p>
<h2>O que é o ESN?</h2>
<p>Executivo de Soluções e Negócios.</p>
"""


def test_a_question_that_is_a_section_title_ranks_that_section_first(tmp_path: Path, settings: Settings) -> None:
    a = _assistant(tmp_path, settings, EXACT)
    for question in ("O que é o ESN?", "o que e o esn", "O QUE É O ESN??!"):
        assert a.search(question, k=2)[0].text == "Executivo de Soluções e Negócios."
    # without the exact title, the section that repeats the words wins (the rule is what decides above)
    assert a.search("ESN o que é ESN", k=1)[0].text.startswith("Oriente o ESN")


def test_three_outcomes() -> None:
    cfg = ConfidenceConfig(weights=(("hub", 100.0),), bias=0.0)
    assert decide(Signals(0.9, True, hub=0.05), cfg, True).outcome == "answer"
    assert decide(Signals(0.9, True, hub=-0.05), cfg, True).outcome == "pointer"  # on topic: retrievers agree
    assert decide(Signals(0.9, False, hub=-0.05), cfg, True).outcome == "refusal"
    assert decide(Signals(0.9, True, hub=0.05, fact_missing=True), cfg, True).outcome == "pointer"
    assert decide(Signals(0.9, True, hub=0.05), cfg, False).outcome == "pointer"  # nothing to lead with


def test_calibration_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "calibration.toml"
    assert load_calibration(path) == Calibration()  # missing: the built-in defaults
    cfg = Calibration(
        ConfidenceConfig(weights=(("hub", 33.5), ("agreement", 0.25)), bias=-1.5, threshold=0.6),
        FusionConfig(lexical_weight=0.3),
        ComposeConfig(max_lines=4),
    )
    write_calibration(path, cfg)
    assert load_calibration(path) == cfg
    assert "length_prior" not in path.read_text(encoding="utf-8")  # only what differs from the defaults
    for bad in ("[confidence]\nbias = 'x'\n", "[fusion]\nlexical_wieght = 0.3\n"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(CalibrationError, match=r"calibration\.toml"):
            load_calibration(path)
    with pytest.raises(ValueError, match="unknown confidence features"):
        ConfidenceConfig(weights=(("nonsense", 1.0),))


def test_expected_calibration_error_and_reliability_table() -> None:
    ece, table = calibration([0.95, 0.95, 0.15, 0.15], [True, False, False, False])
    # bin 0.9-1.0: confidence 0.95, accuracy 0.5; bin 0.1-0.2: confidence 0.15, accuracy 0.
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    assert [(row["bin"], row["n"]) for row in table] == [("0.1-0.2", 2), ("0.9-1.0", 2)]
    assert calibration([1.0], [True])[0] == 0.0


class _Reverse:
    """A reranker that reverses retrieval's order: visible in every later stage."""

    name = "reverse"

    def rerank(self, question: str, results: list[Scored]) -> list[Reranked]:
        return [Reranked(r, float(i)) for i, r in enumerate(reversed(results))]


def test_the_pipeline_reads_passages_in_the_rerankers_order(tmp_path: Path, settings: Settings) -> None:
    a = _assistant(tmp_path, settings, PHONE_NUMBER)
    plain = a.trace(Ask("qual o telefone do suporte?"))
    a.components = dataclasses.replace(a.components, reranker=_Reverse())
    trace = a.trace(Ask("qual o telefone do suporte?"))
    assert [r.rowid for r in trace.retrieved] == [r.rowid for r in plain.retrieved]
    assert [r.rowid for r in trace.ranked] == [r.rowid for r in reversed(plain.retrieved)]
    assert [r.score for r in trace.reranked] == [float(i) for i in range(len(trace.ranked))]
    assert trace.evidence.passages[0].rowid == trace.ranked[0].rowid


def test_the_assistant_reads_its_constants_from_the_calibration_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "calibration.toml"
    path.write_text("[fusion]\nlexical_weight = 0.9\n\n[compose]\nmax_lines = 2\n", encoding="utf-8")
    a = Assistant(settings.model_copy(update={"calibration": path}), FakeEmbedder())
    assert a.components.retriever.config.lexical_weight == 0.9 and a.components.composing.max_lines == 2
    assert a.components.abstaining == ConfidenceConfig()  # no [confidence] table: the built-in model
