"""Portuguese text analysis shared by the lexical index and the query: one analyzer, both sides.

``analyze`` folds case and accents, drops stopwords and stems with Snowball's Portuguese
stemmer; ``assistant.answering.retrieval``'s BM25F ranks these stems.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer  # PyStemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_COUNT = re.compile(r"\w+|[^\w\s]", re.UNICODE)

# Folded (accent-free) Portuguese stopwords, plus Slack shorthand that carries no meaning.
STOPWORDS = frozenset(
    """
    a ao aos aquela aquelas aquele aqueles aquilo as ate com como da das de dela delas dele deles
    depois do dos e ela elas ele eles em entre era eram essa essas esse esses esta estas este estes
    eu foi for foram ha isso isto ja la lhe lhes mais mas me mesmo meu meus minha minhas muito na nas
    nao nem no nos nossa nossas nosso nossos num numa o os ou para pela pelas pelo pelos por qual
    quando que quem se seja sem ser seu seus so sua suas tambem te tem teu tua tuas um uma umas uns
    voce voces vos ser sao esta estao estou sou tenho temos tinha vai vou pra pro pros pras
    q oq eh ne ai entao tipo gente pessoal oi ola bom dia boa tarde noite obrigado obrigada
    to ta la sei acho vezes
    algum alguma alguns algumas cada outro outra outros outras todo toda todos todas
    devo deve devem posso pode podem preciso precisa fazer faco faz
    """.split()
)


def fold(text: str) -> str:
    """Casefold and strip accents: 'Interação' -> 'interacao'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def collapse_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_SLUG_CHARS = 60


def slugify(text: str, limit: int = _SLUG_CHARS) -> str:
    """'Atenção aos cenários:' -> 'atencao-aos-cenarios': an ASCII element id."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")
    return slug[:limit].rstrip("-") or "secao"


def unique_id(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever is free; records the choice in ``taken``."""
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("portuguese")


def words(text: str) -> list[str]:
    """Folded word tokens, stopwords kept."""
    return _WORD.findall(fold(text))


def content_words(text: str) -> list[str]:
    """Folded tokens without stopwords or one-letter tokens."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def stem_all(tokens: list[str]) -> list[str]:
    return list(_stemmer().stemWords(tokens))


def analyze(text: str) -> list[str]:
    """Content-word stems: the unit of lexical matching."""
    return stem_all(content_words(text))


def count_tokens(text: str) -> int:
    """A model-independent size measure: words and punctuation marks."""
    return len(_COUNT.findall(text))
