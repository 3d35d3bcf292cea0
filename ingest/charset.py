"""Bytes of a page -> text, without trusting a declared charset that gives garbage.

A page's declared charset (the Content-Type header, else ``<meta charset>``) is tried
first and kept when it decodes cleanly. When it gives replacement characters or known
mojibake (UTF-8 read as Latin-1, "Ã§"; Latin-1 read as a Central European charset, "ă"),
UTF-8 and Windows-1252 (the charsets Portuguese pages are really in) are tried too and
the one that looks least broken wins. Bytes no candidate can decode are replaced (U+FFFD)
and counted, so a page with a few bad bytes is indexed rather than refused.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

from bs4.dammit import EncodingDetector

logger = logging.getLogger("ingest.charset")

_FALLBACKS = ("utf-8", "windows-1252")
# UTF-8 read as Latin-1/Windows-1252 ("Ã§", "Ã£", "â€™"), and Latin Extended-A letters
# (ă, ş, ő, ...): no Portuguese word has them, a Latin-1 page read as ISO-8859-2/16 does.
_MOJIBAKE = re.compile("Ã[\u0080-\u00bf]|â€|Â[\u00a0-\u00bf]|[\u0100-\u017f]")
_MOJIBAKE_WEIGHT = 3  # a mojibake sign is stronger evidence than one bad byte


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec used
    declared: str | None  # what the page said (None: nothing)
    replaced: int  # characters that could not be decoded (now U+FFFD)

    @property
    def overrode(self) -> bool:
        """Whether the declared charset was set aside."""
        return self.declared is not None and _codec(self.declared) != _codec(self.encoding)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _suspicion(text: str) -> int:
    return text.count("\ufffd") + _MOJIBAKE_WEIGHT * sum(1 for _ in _MOJIBAKE.finditer(text))


def decode_page(data: bytes, declared: str | None = None) -> Decoded:
    """``data`` as text; ``declared``: the header's charset, if any (else the markup's is read)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        declared = declared or "utf-8"
    said = declared or EncodingDetector.find_declared_encoding(data, is_html=True)
    candidates: list[str] = []
    for name in (said, *_FALLBACKS):
        codec = _codec(name)
        if codec is not None and codec not in candidates:
            candidates.append(codec)
    best: tuple[int, str, str] | None = None
    for codec in candidates:
        text = data.decode(codec, errors="replace")
        score = _suspicion(text)
        if score == 0:
            best = (0, codec, text)
            break
        if best is None or score < best[0]:
            best = (score, codec, text)
    assert best is not None  # utf-8 is always a candidate
    _, codec, text = best
    return Decoded(text, codec, said, text.count("\ufffd"))


def log_decoding(decoded: Decoded, what: str) -> None:
    """A warning when the declared charset was set aside or bytes were replaced."""
    if decoded.overrode:
        logger.warning("%s: o charset declarado (%s) não confere com o conteúdo; lida como %s",
                       what, decoded.declared, decoded.encoding)  # fmt: skip
    if decoded.replaced:
        logger.warning("%s: %d caractere(s) inválido(s) para %s substituído(s) por �",
                       what, decoded.replaced, decoded.encoding)  # fmt: skip
