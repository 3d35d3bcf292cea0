"""Answer units: the sentences and list items a passage is cited by.

The composer quotes units, never whole passages, so each unit is embedded on its own at
ingest (with its heading path, as passages are) and the composer can score it against the
question with the same model. Splitting lives here, below both ingest and the assistant,
so the units embedded are exactly the units quoted.
"""

from __future__ import annotations

import re

from index.models import Chunk

# Bump when the splitting or the embedded form changes: stored unit vectors are then stale.
UNITS_VERSION = "units-1"

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“(\[]?[A-ZÀ-Ý0-9])")
_MARKER = re.compile(r"^(?:[•·▪◦●○■\-*]|\d{1,2}(?:\.\d{1,2})*[.)]|[a-z][.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentence boundaries shared by chunking (where a long block may be cut) and units."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def split_units(text: str) -> list[str]:
    """A passage's lines, then sentences; list markers dropped (they are not prose)."""
    out: list[str] = []
    for line in text.split("\n"):
        body = _MARKER.sub("", line.strip())
        if body:
            out.extend(s for s in split_sentences(body) if len(s) > 1)
    return out


def unit_embed_texts(chunk: Chunk) -> list[str]:
    """What is embedded for each unit of ``chunk``: the same form as a passage's embed text,
    so a unit reads in its section's context ("Cliente parado" -> "Entrar em contato ...")."""
    return [f"{chunk.section}\n{u}" for u in split_units(chunk.text)]
