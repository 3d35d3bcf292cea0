"""Query expansion from corpus/glossary.toml (data maintainers own, not code)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from index.errors import BpaError
from index.textutil import fold


class GlossaryError(BpaError):
    """The glossary file is invalid."""


@dataclass(frozen=True)
class Glossary:
    entries: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = ()

    @classmethod
    def load(cls, path: Path | None) -> Glossary:
        if path is None or not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise GlossaryError(f"{path}: TOML inválido: {e}") from e
        table = data.get("expand", {})
        entries = []
        for term, expansions in table.items():
            if not isinstance(expansions, list) or not all(isinstance(x, str) for x in expansions):
                raise GlossaryError(f"{path}: '{term}' deve ser uma lista de textos")
            pattern = re.compile(r"(?<!\w)" + re.escape(fold(term)) + r"(?!\w)")
            entries.append((pattern, tuple(expansions)))
        return cls(tuple(entries))

    def expand(self, question: str) -> list[str]:
        """Expansions whose term occurs in the question (folded, whole words), deduplicated."""
        folded = fold(question)
        out: list[str] = []
        for pattern, expansions in self.entries:
            if pattern.search(folded):
                out.extend(e for e in expansions if e not in out and fold(e) not in folded)
        return out
