"""The learned answer-line selector and abstention model: features and a numpy scorer.

Two small models trained by bench/selector/train.py on public Portuguese QA data (never on
the dev sets; bench/selector/DATA.md lists the sources):

- the **line model** scores each candidate line of a passage: does it answer the question?
  It reads the question and the line together through cheap features: e5 cosines (the
  question vector and the unit vectors are already in the snapshot), IDF-weighted overlap
  of stems, whether the line only restates the question, the question's form crossed with
  the kind of fact the line holds, position and the neighbours' scores.
- the **abstention model** gives P(the passage holds the answer) from passage-level
  features: the best line score, the coverage of the question's stems by the passage, and
  the cosines.

Both are arrays in one ``.npz`` (no pickle): standardisation, then a logistic layer or a
one-hidden-layer MLP. Only numpy and index/ are imported, so training and serving compute
the very same features. All patterns are linear-time and run on folded text.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.textutil import STOPWORDS, fold, stem_all

FEATURES_VERSION = "selector-features-2"

# Word lists are matched as sets of folded tokens: one regex alternation of sixty words,
# tried at every position of every line, cost more than the rest of the features together.
_NUMBER_WORDS = frozenset(
    """um uma dois duas tres quatro cinco seis sete oito nove dez onze doze treze catorze quatorze quinze
    dezesseis dezessete dezoito dezenove vinte trinta quarenta cinquenta sessenta setenta oitenta noventa
    cem cento duzentos mil milhao milhoes bilhao bilhoes dobro metade primeiro primeira segundo segunda
    terceiro terceira quarto quinto decimo dezena duzia centena""".split()
)
_DATE_WORDS = frozenset(
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro seculo seculos "
    "decada ano anos".split()
)
_TIME_UNITS = frozenset("hora horas dia dias semana semanas mes meses minuto minutos ano anos uteis".split())
_CAUSE_WORDS = frozenset("porque pois devido causa motivo razao".split())
_CAUSE_PHRASES = ("para que", "a fim", "por isso", "ja que")
_MONEY_WORDS = frozenset("euro euros reais real dolar dolares".split())
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"\b1[0-9]{3}\b|\b20[0-9]{2}\b|\b\d{1,2}/\d{1,2}\b")

# Question forms, tested in this order on the folded question; the first that matches wins.
FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("porque", re.compile(r"\bpor\s*que\b|\bporque\b|\bpor\s+qual\s+motivo\b|\bqual\s+(?:o\s+)?motivo\b")),
    (
        "quanto",
        re.compile(
            r"\bquant[oa]s?\b|\bqual\s+(?:o\s+|a\s+)?(?:numero|quantidade|porcentagem|percentual|valor|preco|tamanho)\b"
        ),
    ),
    (
        "quando",
        re.compile(r"\bquando\b|\bem\s+que\s+(?:ano|data|dia|mes|seculo|epoca)\b|\bque\s+(?:ano|data|dia)\b|\bprazo\b"),
    ),
    ("onde", re.compile(r"\bonde\b|\baonde\b|\bem\s+que\s+(?:lugar|local|pais|cidade|regiao)\b")),
    ("quem", re.compile(r"\bquem\b")),
    ("como", re.compile(r"\bcomo\b")),
    ("qual", re.compile(r"\bqua(?:l|is)\b|\bque\b")),
    ("oque", re.compile(r"\bo\s+que\b|\boq\b")),
)
FORM_NAMES = (*(name for name, _ in FORMS), "other")

LINE_FEATURES = (
    "cos", "cos_gap", "cos_rank", "cos_z", "overlap", "overlap_heading", "overlap_gap", "overlap_rank",
    "bigram", "restates", "new_stems", "tokens", "first", "relative_position", "prev_overlap", "next_overlap",
    "prev_cos_gap", "next_cos_gap", "intro", "digit", "number_word", "percent", "date", "time_unit", "cause",
    "money", "capital_new", "q_tokens",
    *(f"form_{f}" for f in FORM_NAMES),
    "quanto_x_number", "quando_x_date", "quem_x_capital", "onde_x_capital", "porque_x_cause", "restates_x_overlap",
)  # fmt: skip
PASSAGE_FEATURES = (
    "best_line",
    "second_gap",
    "coverage",
    "coverage_top_idf",
    "passage_cos",
    "best_cos",
    "q_stems",
    "answer_form",
    "best_overlap",
    "passage_csls",
)


_WORD = re.compile(r"\w+", re.UNICODE)
# fold() one character at a time is the selector's main cost; the same mapping as a table
# (checked equal to fold() on these characters when built), fold() itself for anything else.
_FOLD_TABLE = {c: fold(chr(c)) for c in range(0x80, 0x250) if fold(chr(c)) != chr(c).casefold()}
_TABLE_CHARS = frozenset(chr(c) for c in range(0x250))


def fast_fold(text: str) -> str:
    lowered = text.casefold()
    if lowered.isascii():
        return lowered
    if set(lowered) <= _TABLE_CHARS:
        return lowered.translate(_FOLD_TABLE)
    return fold(text)


@dataclass(frozen=True)
class _Text:
    folded: str
    words: frozenset[str]  # folded tokens, stopwords kept
    stems: tuple[str, ...]  # content stems in order (index.textutil.analyze)
    n_words: int


@lru_cache(maxsize=8192)
def _read(text: str) -> _Text:
    """One line or question analysed once (lines repeat across questions: cached)."""
    folded = fast_fold(text)
    tokens = _WORD.findall(folded)
    content = [w for w in tokens if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return _Text(folded, frozenset(tokens), tuple(stem_all(content)), len(tokens))


def clear_cache() -> None:
    """Forget the lines analysed so far (the speed bench measures cold reads)."""
    _read.cache_clear()


def analyze(text: str) -> list[str]:
    """index.textutil.analyze, through the cache."""
    return list(_read(text).stems)


def question_form(question: str) -> str:
    q = _read(question).folded
    return next((name for name, pattern in FORMS if pattern.search(q)), "other")


def _weights(question_stems: Sequence[str], idf: Mapping[str, float]) -> dict[str, float]:
    # A stem the index has never seen is rare: it gets the largest weight known.
    top = max(idf.values(), default=1.0)
    return {s: idf.get(s, top) for s in set(question_stems)}


def _covered(stems: set[str], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    return sum(w for s, w in weights.items() if s in stems) / total if total else 0.0


def _bigrams(stems: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(stems))


def _flags(text: str, q_folded_words: frozenset[str]) -> list[float]:
    t = _read(text)
    w, folded = t.words, t.folded
    # A capitalised word after the first that the question does not have: a name, a place.
    capital_new = any(tok[0].isupper() and fast_fold(tok) not in q_folded_words for tok in _WORD.findall(text)[1:])
    return [
        float(bool(_DIGIT.search(folded))), float(bool(w & _NUMBER_WORDS)),
        float("%" in folded or "cento" in w), float(bool(w & _DATE_WORDS) or bool(_YEAR.search(folded))),
        float(bool(w & _TIME_UNITS)), float(bool(w & _CAUSE_WORDS) or any(p in folded for p in _CAUSE_PHRASES)),
        float("$" in folded or bool(w & _MONEY_WORDS)), float(capital_new),
    ]  # fmt: skip


@dataclass(frozen=True)
class PassageLines:
    """One candidate passage as the selector reads it."""

    lines: Sequence[str]  # its units, in order (index.units.split_units)
    section: str  # its heading path (the section title speaks for every line)
    cosines: np.ndarray | None  # the question's cosine with each line's vector (None: no unit vectors)
    passage_cos: float = 0.0  # the question's cosine with the passage vector
    # The passage's own typical cosine (index.hubs.hub_baseline: its mean cosine with its
    # nearest passages). A passage in a dense region scores high with any question; the
    # corrected cosine (CSLS) says how much this question stands out for it.
    passage_hub: float = 0.0


def line_features(question: str, passage: PassageLines, idf: Mapping[str, float]) -> np.ndarray:
    """(n_lines, len(LINE_FEATURES)) features of every line of one passage."""
    n = len(passage.lines)
    out = np.zeros((n, len(LINE_FEATURES)), dtype=np.float64)
    if n == 0:
        return out
    q_list = analyze(question)
    q_stems = set(q_list)
    weights = _weights(q_list, idf)
    q_bigrams = _bigrams(q_list)
    q_words = _read(question).words
    heading = set(analyze(passage.section))
    form = question_form(question)
    cos = np.zeros(n) if passage.cosines is None or len(passage.cosines) != n else np.asarray(passage.cosines, float)
    cos_rank = np.argsort(np.argsort(-cos, kind="stable"), kind="stable") / max(1, n - 1)
    cos_z = (cos - cos.mean()) / (cos.std() + 1e-6) if n > 1 else np.zeros(n)
    stems = [analyze(t) for t in passage.lines]
    overlap = np.array([_covered(set(s), weights) for s in stems])
    ov_rank = np.argsort(np.argsort(-overlap, kind="stable"), kind="stable") / max(1, n - 1)
    q_tokens = math.log1p(len(q_list))
    for i, text in enumerate(passage.lines):
        s = set(stems[i])
        restates = len(s & q_stems) / len(s) if s else 0.0
        bigram = len(_bigrams(stems[i]) & q_bigrams) / len(q_bigrams) if q_bigrams else 0.0
        flags = _flags(text, q_words)
        digit, number_word, percent, date, _, cause, _, capital_new = flags
        forms = [float(form == f) for f in FORM_NAMES]
        row = [
            cos[i], cos[i] - cos.max(), cos_rank[i], cos_z[i], overlap[i], _covered(s | heading, weights),
            overlap[i] - overlap.max(), ov_rank[i], bigram, restates, math.log1p(len(s - q_stems - heading)),
            math.log1p(_read(text).n_words), float(i == 0), i / max(1, n - 1),
            overlap[i - 1] if i > 0 else 0.0, overlap[i + 1] if i + 1 < n else 0.0,
            cos[i - 1] - cos.max() if i > 0 else -0.1, cos[i + 1] - cos.max() if i + 1 < n else -0.1,
            float(text.rstrip().endswith(":")), *flags, q_tokens, *forms,
            float(form == "quanto") * max(digit, number_word, percent), float(form == "quando") * max(date, digit),
            float(form == "quem") * capital_new, float(form == "onde") * capital_new,
            float(form == "porque") * cause, restates * overlap[i],
        ]  # fmt: skip
        out[i] = row
    return out


def passage_features(
    question: str, passage: PassageLines, idf: Mapping[str, float], line_logits: np.ndarray
) -> np.ndarray:
    """(len(PASSAGE_FEATURES),) features of a passage as the answer's source."""
    q_list = analyze(question)
    weights = _weights(q_list, idf)
    stems = set(analyze(passage.section))
    for t in passage.lines:
        stems.update(analyze(t))
    coverage = _covered(stems, weights)
    top = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
    top_cov = sum(1.0 for s, _ in top if s in stems) / len(top) if top else 0.0
    logits = np.sort(np.asarray(line_logits, float))[::-1] if len(line_logits) else np.zeros(1)
    cos = passage.cosines if passage.cosines is not None and len(passage.cosines) else np.zeros(1)
    form = question_form(question)
    best_overlap = max((_covered(set(analyze(t)), weights) for t in passage.lines), default=0.0)
    return np.array([
        logits[0], logits[0] - (logits[1] if len(logits) > 1 else logits[0] - 1.0), coverage, top_cov,
        passage.passage_cos, float(np.max(cos)), math.log1p(len(set(q_list))),
        float(form in ("quanto", "quando", "onde", "quem")), best_overlap, passage.passage_cos - passage.passage_hub,
    ])  # fmt: skip


# --- the models -------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """Standardise, then a logistic layer (``hidden`` empty) or one ReLU hidden layer."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray  # (F, H) or (F, 1) for a logistic head
    b1: np.ndarray
    w2: np.ndarray | None = None  # (H, 1) for an MLP
    b2: np.ndarray | None = None

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        h = z @ self.w1 + self.b1
        if self.w2 is not None and self.b2 is not None:
            h = np.maximum(h, 0.0) @ self.w2 + self.b2
        return h.reshape(-1)


@dataclass(frozen=True)
class Selector:
    lines: Head
    passage: Head
    platt: tuple[float, float]  # recalibration of the passage model's logit: sigmoid(a*logit + b)
    fingerprint: str  # sha256 of the weights file (for the snapshot manifest and traces)

    @property
    def name(self) -> str:
        return f"selector@{self.fingerprint[:12]}"

    def score_lines(self, question: str, passage: PassageLines, idf: Mapping[str, float]) -> np.ndarray:
        return score_lines(self.lines, line_features(question, passage, idf))

    def passage_logit(
        self, question: str, passage: PassageLines, idf: Mapping[str, float], logits: np.ndarray
    ) -> float:
        """The abstention model's logit (before recalibration) for an answer drawn from this passage."""
        return float(self.passage.logits(passage_features(question, passage, idf, logits)[None, :])[0])

    def probability(self, question: str, passage: PassageLines, idf: Mapping[str, float], logits: np.ndarray) -> float:
        """P(the answer drawn from this passage contains the answer), recalibrated."""
        a, b = self.platt
        return _sigmoid(a * self.passage_logit(question, passage, idf, logits) + b)


def score_lines(head: Head, features: np.ndarray) -> np.ndarray:
    """The line model's logit per row of ``features`` (line_features' output): pure."""
    if features.shape[0] == 0:
        return np.zeros(0)
    return head.logits(features)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _head(arrays: Mapping[str, np.ndarray], prefix: str) -> Head:
    get = arrays.get
    w2, b2 = get(f"{prefix}_w2"), get(f"{prefix}_b2")
    return Head(
        arrays[f"{prefix}_mean"], arrays[f"{prefix}_scale"], arrays[f"{prefix}_w1"], arrays[f"{prefix}_b1"],
        None if w2 is None or w2.size == 0 else w2, None if b2 is None or b2.size == 0 else b2,
    )  # fmt: skip


def save_selector(path: Path, lines: Head, passage: Head, platt: tuple[float, float]) -> None:
    arrays: dict[str, np.ndarray] = {
        "line_features": np.array(LINE_FEATURES),
        "passage_features": np.array(PASSAGE_FEATURES),
        "version": np.array(FEATURES_VERSION),
        "platt": np.array(platt, dtype=np.float64),
    }
    for prefix, head in (("line", lines), ("passage", passage)):
        arrays[f"{prefix}_mean"], arrays[f"{prefix}_scale"] = head.mean, head.scale
        arrays[f"{prefix}_w1"], arrays[f"{prefix}_b1"] = head.w1, head.b1
        arrays[f"{prefix}_w2"] = head.w2 if head.w2 is not None else np.zeros(0)
        arrays[f"{prefix}_b2"] = head.b2 if head.b2 is not None else np.zeros(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub reads ** as allow_pickle


class SelectorError(ValueError):
    """The weights file is missing, unreadable or for other features. Messages are pt-BR."""


def load_selector(path: Path) -> Selector:
    """The selector saved at ``path`` (``allow_pickle=False``), with its sha256 fingerprint."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SelectorError(f"pesos do seletor não encontrados em {path} ({e.strerror})") from e
    import io

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as e:
        raise SelectorError(f"arquivo de pesos do seletor ilegível: {path} ({e})") from e
    if str(arrays.get("version")) != FEATURES_VERSION or tuple(arrays["line_features"]) != LINE_FEATURES:
        raise SelectorError(
            f"os pesos em {path} são de outra versão das features ({arrays.get('version')}); "
            "treine de novo com bench/selector/train.py"
        )
    platt = arrays["platt"]
    return Selector(
        _head(arrays, "line"), _head(arrays, "passage"), (float(platt[0]), float(platt[1])),
        hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
