"""Ticket text for /v1/suggest: keep the signal, drop what drowns it.

Zendesk descriptions arrive with HTML, quoted e-mail history, signatures and disclaimers;
only the customer's own words (and the subject, which weighs most) should drive retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bs4 import BeautifulSoup

from assistant.privacy import mask_pii
from index.models import Chunk
from index.textutil import collapse_ws, fold
from index.units import split_units

# Folded title of the section holding the ticket-review checklist.
CHECKLIST_SECTION_HINT = "revisao de dados dos tickets"

_QUOTE_HEADERS = re.compile(
    r"^\s*(?:>|Em .{5,120} escreveu:|On .{5,120} wrote:|De: |From: |-----\s*Mensagem original|"
    r"-----\s*Original Message|Enviado: |Sent: )",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*$|Atenciosamente|Att\.?,?\s*$|Abraços?|Obrigad[oa],?\s*$|Cordialmente|"
    r"Enviado do meu|Sent from my|AVISO:|CONFIDENCIAL|Esta mensagem)",
    re.IGNORECASE,
)
# Longest ticket description accepted (the API refuses more): a long first comment with its
# quoted history fits.
MAX_DESCRIPTION_CHARS = 20_000
# Of the customer's own words, only the start drives retrieval: past it, a long description
# drowns the subject.
RETRIEVAL_DESCRIPTION_CHARS = 1_500


def _strip_html(text: str) -> str:
    if "<" in text and ">" in text:
        soup = BeautifulSoup(text, "lxml")
        for tag in soup.find_all(["style", "script", "blockquote"]):
            tag.decompose()
        for br in soup.find_all("br"):
            br.replace_with("\n")
        for p in soup.find_all(["p", "div", "li"]):
            p.append("\n")
        return soup.get_text()
    return text


def own_words(description: str) -> str:
    """The description up to the first quoted message or signature."""
    kept: list[str] = []
    for line in _strip_html(description).splitlines():
        if _QUOTE_HEADERS.match(line) or _SIGNATURE.match(line):
            break
        kept.append(line)
    return collapse_ws(" ".join(kept))


def clean_ticket_text(subject: str, description: str, tags: list[str]) -> str:
    """Subject twice (it is the densest summary), the customer's words, then tags."""
    body = own_words(description)[:RETRIEVAL_DESCRIPTION_CHARS]
    tag_text = " ".join(t.replace("_", " ") for t in tags)
    return mask_pii(collapse_ws(f"{subject}. {subject}. {body} {tag_text}"))


def checklist(chunks: Iterable[Chunk]) -> list[str]:
    """The ticket-review checklist ('Revisão de dados dos tickets') of a corpus, when it has one."""
    for c in chunks:
        if CHECKLIST_SECTION_HINT in fold(c.section):
            return [u for u in split_units(c.text) if not u.endswith(":")]
    return []
