"""What a question asks for, and whether a line of the documentation can hold it.

These are rules about the *form* of questions and lines, written once for all of them:
"quantas horas ...?" asks for a duration, so it is answered only by a line that holds a
number of hours or days; "qual o 0800 ...?" asks for a phone number, so a line about phone
etiquette without one is not an answer. A page that does not state the fact cannot answer
the question, however close its topic is (the middle outcome: a pointer, not an answer).

Navigation text ("Para mais informações ..., clique aqui.", a link table's caption
"Artigo com instruções sobre ...") points elsewhere and never answers by itself.
All patterns are linear-time (no nested quantifiers) and run on folded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from index.textutil import analyze, fold


class FactKind(StrEnum):
    COUNT = "count"  # quantos / quantas ...
    DURATION = "duration"  # quantas horas, quantos dias, quanto tempo, até quando
    PHONE = "phone"  # qual o telefone / 0800 / ramal
    EMAIL = "email"  # qual o e-mail
    DATE = "date"  # até quando, que dia, qual a data
    VALUE = "value"  # quanto custa, qual o valor / preço


_TIME_UNIT = r"(?:horas?|h|hs|dias?|dias uteis|semanas?|mes|meses|minutos?|min|anos?)"
# Numbers written as words, multiples and fractions: facts of their kind, like digits
# ("quatro analistas", "metade dos tickets", "um terco"). "um"/"uma" are numbers only where a
# count names what it counts ("uma pessoa"): alone they are articles.
_NUMBER_WORD = (
    r"(?:dois|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|onze|doze|treze|catorze|quatorze|quinze|"
    r"dezesseis|dezessete|dezoito|dezenove|vinte|trinta|quarenta|cinquenta|sessenta|setenta|oitenta|noventa|"
    r"cem|cento|duzent[oa]s|trezent[oa]s|quinhent[oa]s|mil|milhao|milhoes|bilhao|bilhoes|"
    r"dobro|triplo|metade|tercos?|dezenas?|duzias?|centenas?)"
)
# Ordinals ("o terceiro contato", "2a tentativa") and percentages ("60%", "sessenta por cento").
_ORDINAL = (
    r"(?:primeir[oa]s?|segund[oa]s?|terceir[oa]s?|quart[oa]s?|quint[oa]s?|sext[oa]s?|setim[oa]s?|"
    r"oitav[oa]s?|non[oa]s?|decim[oa]s?|ultim[oa]s?|\d{1,3}\s?(?:o|a|º|ª))"
)
_PERCENT = r"(?:\d{1,3}(?:[.,]\d{1,2})?\s?%|\bpor\s+cento\b)"

# Question forms. Order matters only for readability: a question may ask for several kinds.
_ASKS: list[tuple[FactKind, re.Pattern[str]]] = [
    (
        FactKind.DURATION,
        re.compile(
            rf"\b(?:quant[oa]s\s+{_TIME_UNIT}|quanto\s+tempo|em\s+quant[oa]s\s+{_TIME_UNIT}|"
            rf"(?:prazo\s+)?(?:em|de)\s+(?:horas|dias|minutos|semanas)|prazo\s+de\s+{_TIME_UNIT})\b"
        ),
    ),
    (FactKind.DATE, re.compile(r"\b(?:ate\s+quando|que\s+dia|qual\s+(?:a\s+)?data|em\s+que\s+data)\b")),
    (
        FactKind.COUNT,
        re.compile(r"\b(?:quant[oa]s|qu?n?t[oa]s|qual\s+(?:o\s+)?(?:numero|quantidade)|meta\s+(?:exata\s+)?de)\b"),
    ),
    (FactKind.PHONE, re.compile(r"\b(?:0800|telefone|fone|ramal|whatsapp)\b")),
    (FactKind.EMAIL, re.compile(r"\b(?:e-?mail|endereco\s+de\s+e-?mail)\b")),
    (FactKind.VALUE, re.compile(r"\b(?:quanto\s+custa|qual\s+(?:o\s+)?(?:valor|preco|custo)|valor\s+padrao)\b")),
]
# A phone or e-mail is asked for only when the question asks *which* one ("qual o 0800",
# "tem telefone"), not when it mentions calling ("ligar por telefone").
_WHICH = re.compile(r"\b(?:qual|quais|tem\s+(?:algum|um)?|onde\s+(?:acho|encontro|fica)|me\s+passa)\b")

_HAS: dict[FactKind, re.Pattern[str]] = {
    FactKind.COUNT: re.compile(
        rf"\d|\b{_NUMBER_WORD}\b|\b{_ORDINAL}\b|{_PERCENT}|\b(?:uma|um)\s+(?:vez|dia|semana|hora|mes)\b"
    ),
    FactKind.DURATION: re.compile(
        rf"\b(?:\d{{1,4}}|{_NUMBER_WORD}|um|uma)\s{{0,2}}{_TIME_UNIT}\b|\b\d{{1,2}}/\d{{1,2}}\b|\b\d{{1,2}}h\d{{0,2}}\b"
    ),
    FactKind.PHONE: re.compile(r"\b0800[\s.-]?\d|\(\d{2}\)\s?\d|\b\d{4,5}[\s.-]\d{4}\b"),
    FactKind.EMAIL: re.compile(r"[a-z0-9_.+-]{1,64}@[a-z0-9-]{1,63}\.[a-z]"),
    FactKind.DATE: re.compile(
        r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b|"
        r"\b(?:janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro)\b|"
        rf"\b(?:\d{{1,4}}|{_NUMBER_WORD}|um|uma)\s{{0,2}}{_TIME_UNIT}\b"
    ),
    FactKind.VALUE: re.compile(rf"r\$|\d|\b{_NUMBER_WORD}\b|{_PERCENT}|\breais\b"),
}

_NAVIGATION = re.compile(
    r"\bclique\s+aqui\b|\bneste\s+link\b|\bno\s+link\s+a\s+seguir\b|\b(?:acesse|veja|consulte)\s+o\s+(?:link|kcs|artigo)\b|"
    r"^(?:artigo|documentacao|grafico|pagina|link)\s+(?:com|sobre|que)\b"
)


def asked_kinds(question: str) -> frozenset[FactKind]:
    """The kinds of fact a question asks for (empty: an open question)."""
    q = fold(question)
    kinds = {kind for kind, pattern in _ASKS if pattern.search(q)}
    if kinds & {FactKind.PHONE, FactKind.EMAIL} and not _WHICH.search(q):
        kinds -= {FactKind.PHONE, FactKind.EMAIL}
    if FactKind.DURATION in kinds:
        kinds.discard(FactKind.COUNT)  # "quantas horas" is a duration, not any number
    return frozenset(kinds)


_COUNTED = re.compile(r"\b(?:quant[oa]s|qu?n?t[oa]s)\s+(\w+)")
_NUMBER_THEN_WORDS = re.compile(
    rf"(?:(?<!\d)\d{{1,6}}|\b(?:{_NUMBER_WORD[3:-1]}|um|uma|{_ORDINAL[3:-1]})\b)((?:\W{{1,3}}\w+){{1,3}})"
)


@dataclass(frozen=True)
class Asked:
    """What a question asks for: the kinds of fact, and for a count, what is counted."""

    kinds: frozenset[FactKind] = frozenset()
    counted: str | None = None  # stem of the noun after "quantos/quantas"

    def __bool__(self) -> bool:
        return bool(self.kinds)


def asked(question: str) -> Asked:
    kinds = asked_kinds(question)
    counted = None
    if FactKind.COUNT in kinds:
        m = _COUNTED.search(fold(question))
        if m and m.group(1) not in {"vezes", "vez"}:
            counted = _stem(m.group(1))
    return Asked(kinds, counted)


def _stem(word: str) -> str:
    stems = analyze(word)
    return stems[0] if stems else word


def holds(text: str, kind: FactKind, counted: str | None = None) -> bool:
    """Whether a line holds a fact of this kind (a number of hours, a phone number, ...).
    A count of something ("quantas interações") needs a number followed, within three
    words, by that thing ("3 interações públicas")."""
    folded = fold(text)
    if kind is FactKind.COUNT and counted:
        # "uma pessoa", "quatro analistas", "3 interações": the number names what it counts.
        return any(counted in analyze(m.group(1)) for m in _NUMBER_THEN_WORDS.finditer(folded))
    return _HAS[kind].search(folded) is not None


def satisfies(text: str, question: Asked) -> bool:
    """A line answers the question's form when it holds one of the kinds asked (or none was)."""
    return not question.kinds or any(holds(text, k, question.counted) for k in question.kinds)


def is_navigation(text: str) -> bool:
    """A caption or 'clique aqui' line: it points to an article instead of saying anything."""
    return _NAVIGATION.search(fold(text).strip()) is not None
