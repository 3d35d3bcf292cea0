"""LGPD: mask personal data (CPF, CNPJ, e-mail, phone) before anything is logged or stored.

Every pattern runs in linear time on any input, because masking runs on whatever a client
sends (a 100k-character URL included): a match may only start where a token starts (a
lookbehind refuses the middle of a run, so a run is never rescanned from each of its
characters), runs are consumed possessively (no backtracking into them) and every other
quantifier is bounded. What goes to a log is also capped first: see mask_for_log.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# Horizontal whitespace only: a number split across lines is two numbers.
_SPACE = r"[^\S\r\n]"
# Between the digit groups of a CPF/CNPJ: dots, slash, dash, spaces ("529 982 247 25"),
# a few of them at most. Atomic: a digit can never be a separator, so giving back is useless.
_SEP = rf"(?>{_SPACE}{{0,2}}[./-]?{_SPACE}{{0,2}})"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
# CNPJ before CPF: a CNPJ's digits would otherwise half-match a CPF. Neither starts or ends
# inside a word ("20261128T062905721-18ab", a snapshot id, is not a CPF).
_NOT_IN_WORD_BEFORE = r"(?<![^\W_])"
_NOT_IN_WORD_AFTER = r"(?![^\W_])"
_CNPJ = re.compile(
    rf"{_NOT_IN_WORD_BEFORE}\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{4}}{_SEP}\d{{2}}{_NOT_IN_WORD_AFTER}"
)
_CPF = re.compile(rf"{_NOT_IN_WORD_BEFORE}\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{2}}{_NOT_IN_WORD_AFTER}")
# Brazilian phones: with a DDD (10-11 digits, optional +55 and separators, the mobile 9 may
# stand apart), or a bare number written with a separator. A bare 8-digit run is left alone:
# ticket numbers look so.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+?55[\s.-]?)?(?:\(\d{2}\)\s?|\d{2}[\s.-]?)(?:9[\s.-]?)?\d{4}[\s.-]?\d{4}(?!\w)"
    r"|(?<![\w-])9?\d{4}[-.\s]\d{4}(?![\w-])"
)

# What a log line keeps of one piece of client text: enough to read, bounded to mask.
LOG_TEXT_LIMIT = 4096
# The longest personal data a cut may split: an e-mail (64 + 1 + 255), a spaced number.
_LONGEST_TOKEN = 320
_LONGEST_NUMBER = 40
_TOKEN_PUNCT = frozenset(".+@-_/()")
_NUMBER_CHARS = frozenset("0123456789.+-/() \t\u00a0")


def mask_pii(text: str) -> str:
    """Replace personal data with typed placeholders; everything else is kept."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CNPJ.sub("[CNPJ]", text)
    text = _CPF.sub("[CPF]", text)
    text = _PHONE.sub("[TELEFONE]", text)
    return text


def mask_for_log(text: str, limit: int = LOG_TEXT_LIMIT, *, url: bool = False) -> str:
    """``text`` as a log line may show it: at most ``limit`` characters, masked, and saying so
    when it was cut. The cut comes before masking, so the cost is bounded whatever the input.

    ``url``: the text is a request target whose query is percent-encoded ("%40" for "@",
    "+" for a space): it is decoded (the kept part only) so the masks match.
    """
    cut = len(text) > limit
    head = text[:limit]
    if url:
        head = unquote_plus(head)
    if not cut:
        return mask_pii(head)
    return f"{mask_pii(_drop_split_tail(head))} …[truncado: {len(text)} caracteres no total]"


def _drop_split_tail(head: str) -> str:
    """Drop what the cut may have split: the last token (an e-mail, a bare number), then the
    digits and separators before it (a spaced CPF, a phone) — a fragment would escape the masks."""
    end = len(head)
    floor = max(0, end - _LONGEST_TOKEN)
    while end > floor and (head[end - 1].isalnum() or head[end - 1] in _TOKEN_PUNCT):
        end -= 1
    floor = max(0, end - _LONGEST_NUMBER)
    while end > floor and head[end - 1] in _NUMBER_CHARS:
        end -= 1
    return head[:end]
