"""Deep links that land on their own section, even when headings repeat.

Two kinds of link, chosen by who renders the page:

* bpa's own rendering (/d/{document_id}, for files without a public URL): every section
  gets an element id that is unique in its document (the page's own id when it has one,
  else a slug of its title, qualified by its parent's when the title repeats).
* a page bpa does not control (Confluence, Help Center, a public URL): sections without an
  element id get a text directive (``#:~:text=[prefix-,]start[,end][,-suffix]``). The start
  is the heading as the page shows it; when that text occurs more than once on the page,
  the words that follow it (and, if still ambiguous, the words before it) are added so
  the browser scrolls to this occurrence and not the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from index.models import Section
from index.textutil import collapse_ws, slugify, unique_id

CONTEXT_WORDS = 5  # words of prefix/suffix context
LONG_HEADING_WORDS = 16  # longer headings are linked as start,end when their start is unique
END_WORDS = 5
_ID_CHARS = 120  # a slug qualified by its parent's


@dataclass(frozen=True)
class Heading:
    """The visible text around the line that opened a section."""

    shown: str  # the heading as the page shows it (markers included when they are text)
    before: str = ""  # visible text right before it
    after: str = ""  # visible text right after it


def assign_anchors(root: Section, headings: dict[int, Heading], page_text: str, *, own_page: bool) -> None:
    """Give every section below ``root`` the fragment that lands on it.

    ``headings`` maps ``id(section)`` to the text around its heading line; ``page_text``
    is the whole page's visible text (including parts bpa drops, like a table of contents,
    since the browser searches those too). ``own_page``: the document is rendered by bpa.
    """
    if own_page:
        _assign_ids(root, headings)
    else:
        _assign_text_directives(root, headings, _normalise(page_text))


def _assign_ids(root: Section, headings: dict[int, Heading]) -> None:
    taken: set[str] = set()
    parents: dict[int, Section] = {}
    for _, sec in root.walk():
        for child in sec.children:
            parents[id(child)] = sec
    for _, sec in root.walk():
        if sec is root:
            continue
        if sec.anchor and not sec.anchor.startswith(":~:") and sec.anchor not in taken:
            taken.add(sec.anchor)  # the page's own element id
            continue
        head = headings.get(id(sec))
        base = slugify(sec.title or (head.shown if head else ""))
        parent = parents.get(id(sec))
        if base in taken and parent is not None and parent.anchor and parent is not root:
            base = f"{parent.anchor}-{base}"[:_ID_CHARS]
        sec.anchor = unique_id(base, taken)


def _normalise(text: str) -> str:
    return collapse_ws(text).casefold()


def _occurrences(needle: str, haystack: str) -> int:
    """Whole-word occurrences (text directives match at word boundaries)."""
    if not needle:
        return 0
    pattern = r"(?<!\w)" + re.escape(_normalise(needle)) + r"(?!\w)"
    return len(re.findall(pattern, haystack))


def _term(text: str) -> str:
    # '-', ',' and '&' are syntax in a text directive: percent-encode every one.
    return quote(text, safe="").replace("-", "%2D")


def _split_words(text: str) -> list[str]:
    # Only ASCII whitespace separates words: the page keeps a no-break space as it is, and
    # the browser matches it only against itself.
    return [w for w in re.split(r"[ \t\n\r\f]+", text) if w]


def _start_end(shown: str, page: str) -> list[str]:
    """A long heading as (start, end): the browser highlights from the first match of start
    to the next match of end, so start alone must already be unique on the page."""
    words = _split_words(shown)
    if len(words) <= LONG_HEADING_WORDS:
        return [shown]
    for n in range(END_WORDS, len(words) - END_WORDS):
        start = " ".join(words[:n])
        if _occurrences(start, page) == 1:
            return [start, " ".join(words[-END_WORDS:])]
    return [shown]


def _directive(shown: str, prefix: str, suffix: str, page: str) -> str:
    parts = [_term(t) for t in _start_end(shown, page)]
    if prefix:
        parts.insert(0, _term(prefix) + "-")
    if suffix:
        parts.append("-" + _term(suffix))
    return ":~:text=" + ",".join(parts)


def text_directive(head: Heading, page: str) -> str:
    """The shortest directive whose text occurs once on the (normalised) page."""
    shown = " ".join(_split_words(head.shown))
    suffix = " ".join(_split_words(head.after)[:CONTEXT_WORDS])
    prefix = " ".join(_split_words(head.before)[-CONTEXT_WORDS:])
    candidates = [("", ""), ("", suffix), (prefix, suffix)]
    best: tuple[int, str, str] | None = None
    for pre, suf in candidates:
        if (pre, suf) != ("", "") and not (pre or suf):
            continue
        count = _occurrences(" ".join(p for p in (pre, shown, suf) if p), page)
        if count == 1 or (count == 0 and (pre, suf) == ("", "")):
            # Unique, or not found at all (the page shows it differently): context would only hurt.
            return _directive(shown, pre, suf, page)
        if count and (best is None or count < best[0]):
            best = (count, pre, suf)
    _, pre, suf = best or (0, "", "")
    return _directive(shown, pre, suf, page)


def _assign_text_directives(root: Section, headings: dict[int, Heading], page: str) -> None:
    for _, sec in root.walk():
        if sec is root or sec.anchor:
            continue  # the page's own element id
        head = headings.get(id(sec))
        if head is None:
            if sec.title:
                sec.anchor = ":~:text=" + _term(" ".join(sec.title.split()[:8]))
            continue
        sec.anchor = text_directive(head, page)
