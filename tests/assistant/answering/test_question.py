"""Facts by form: counts and values written in words, ordinals, fractions and percentages are
facts of their kind; a count must name what it counts."""

from __future__ import annotations

import pytest

from assistant.answering.question import FactKind, asked, holds, satisfies

COUNT_QUESTION = asked("Quantas pessoas participam da reunião de alinhamento?")


@pytest.mark.parametrize(
    "line",
    [
        "Participam 3 pessoas do time.",
        "Participa uma pessoa de cada área.",
        "Quatro pessoas revisam o ticket.",
        "Duas pessoas: o analista e o líder.",
    ],
)
def test_a_count_in_digits_or_words_that_names_what_it_counts_holds(line: str) -> None:
    assert satisfies(line, COUNT_QUESTION)


@pytest.mark.parametrize(
    "line",
    [
        "O time se reúne toda semana.",  # no number
        "Uma reunião por semana com o líder.",  # a number, but not of people
        "Ligue para 4 clientes por dia.",
    ],
)
def test_a_count_of_something_else_or_no_count_does_not_hold(line: str) -> None:
    assert not satisfies(line, COUNT_QUESTION)


@pytest.mark.parametrize(
    "line",
    ["A meta é 60% dos tickets.", "Sessenta por cento dos tickets.", "Metade dos tickets.", "O terceiro contato."],
)
def test_percentages_fractions_and_ordinals_are_counts(line: str) -> None:
    assert holds(line, FactKind.COUNT)


def test_a_value_in_words_or_percent_holds_and_plain_text_does_not() -> None:
    assert asked("Qual o valor da multa?").kinds == frozenset({FactKind.VALUE})
    assert holds("A multa é de dez por cento.", FactKind.VALUE)
    assert holds("Multa de cinquenta reais.", FactKind.VALUE)
    assert not holds("A multa é cobrada na fatura.", FactKind.VALUE)
