"""The composer: verbatim units, scored lexically and, with unit vectors, by their cosine."""

from __future__ import annotations

import numpy as np

from assistant.compose import ComposeConfig, compose
from assistant.retrieval import Scored
from index.models import Chunk
from index.textutil import analyze
from index.units import split_units

FILLER = " ".join(f"Item {i} do procedimento interno registrado pela equipe de suporte." for i in range(12))
TEXT = f"O prazo importa muito para todos os analistas. Responda em até dez dias úteis. {FILLER}"


def _passage(text: str = TEXT, rowid: int = 7) -> Scored:
    chunk = Chunk(id="c", document_id="d", ordinal=0, section_path=("Manual", "Atendimento"), anchor="a",
                  url="https://h/manual#a", text=text)  # fmt: skip
    return Scored(rowid=rowid, chunk=chunk, score=3.0, dense=0.9, lexical=5.0)


def _one_unit(cosines: dict[int, np.ndarray] | None, question: str = "qual o prazo?") -> str:
    composed = compose([_passage()], analyze(question), {}, ComposeConfig(max_units=1), cosines)
    [unit] = composed.units
    return unit.text


def test_without_unit_vectors_the_lexical_match_wins() -> None:
    assert _one_unit(None) == "O prazo importa muito para todos os analistas."


def test_unit_cosine_decides_between_lexically_equal_units() -> None:
    # "prazo" is in the first sentence, "respond" in the second: lexically a tie.
    question = "qual o prazo para responder?"
    n = len(split_units(TEXT))
    for best in (0, 1):
        cosines = np.full(n, 0.80)
        cosines[best] = 0.90
        assert _one_unit({7: cosines}, question) == split_units(TEXT)[best]


def test_cosines_that_do_not_match_the_units_are_ignored() -> None:
    assert _one_unit({7: np.array([0.1, 0.9])}) == "O prazo importa muito para todos os analistas."


def test_every_answer_unit_is_verbatim_from_its_passage() -> None:
    n = len(split_units(TEXT))
    composed = compose([_passage()], analyze("prazo dias"), {}, ComposeConfig(), {7: np.linspace(0.7, 0.9, n)})
    assert composed.units and all(u.text in TEXT for u in composed.units)
