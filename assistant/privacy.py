"""LGPD: mask personal data (CPF, CNPJ, e-mail, phone) before anything is logged or stored."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# CNPJ before CPF: a CNPJ's digits would otherwise half-match a CPF.
_CNPJ = re.compile(r"(?<!\d)\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)")
_CPF = re.compile(r"(?<!\d)\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)")
# Brazilian phones: with a DDD (10-11 digits, optional +55 and separators), or a bare
# number written with a separator. A bare 8-digit run is left alone: ticket numbers look so.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+?55[\s.-]?)?(?:\(\d{2}\)\s?|\d{2}[\s.-]?)9?\d{4}[\s.-]?\d{4}(?!\w)"
    r"|(?<![\w-])9?\d{4}[-.\s]\d{4}(?![\w-])"
)


def mask_pii(text: str) -> str:
    """Replace personal data with typed placeholders; everything else is kept."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CNPJ.sub("[CNPJ]", text)
    text = _CPF.sub("[CPF]", text)
    text = _PHONE.sub("[TELEFONE]", text)
    return text
