"""HTML -> outlined Document.

Two passes. ``html_to_lines`` flattens the page into typed lines (headings, list items,
paragraphs, table rows), whether the structure is real HTML (Confluence, Help Center) or
plain text laid out with indentation and bullets inside the HTML (the Boas Práticas
export). ``build_outline`` then turns lines into a section tree: headings, FAQ questions
labelled step groups ("Cliente parado:") and short indented labels ("Observação:") become
sections; everything else is a block.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from bs4 import BeautifulSoup, NavigableString, Tag

from index.errors import BpaError
from index.models import Block, Document, Section, document_id
from index.textutil import collapse_ws, fold
from ingest.anchors import Heading, assign_anchors
from ingest.flatten import Line, _heading_number, cap_depth, html_to_lines
from ingest.sources.base import RawDocument

# 2: indented labels ("Observação:") open a section. 3: unique section ids on bpa's own
# rendering and text directives with context (repeated headings), numbered headings end a
# FAQ item, glued table-header cells split.
PARSER_VERSION = "3"


class ParseError(BpaError):
    """A page could not be turned into a document (empty, no text, not HTML)."""


# ---------------------------------------------------------------------------------------
# pass 2: lines -> outline

_TERMINAL = (".", ":", ";", ",", "?", "!")


def _title(text: str) -> str:
    return text.strip().rstrip(":.").rstrip()


def _is_plain_heading(line: Line, nxt: Line | None) -> bool:
    """A short standalone line like 'Boas Práticas do Suporte' between blank lines."""
    t = line.text
    return (
        line.kind == "para"
        and line.indent == 0
        and line.blank_before
        and (nxt is None or nxt.blank_before)
        and len(t) <= 60
        and len(t.split()) >= 2
        and not t.endswith(_TERMINAL)
        and t[:1].isupper()
    )


def _is_label(line: Line) -> bool:
    """'Durante atuação online:' — a short colon-ended line at the margin opens a subsection."""
    return line.kind == "para" and line.indent == 0 and line.text.endswith(":") and len(line.text.split()) <= 3


def _is_faq(line: Line, nxt: Line | None, faq_indent: int) -> bool:
    """A top-level bullet asking a question, followed by its answer (not by sibling bullets)."""
    if line.kind != "item" or line.marker != "•" or line.indent > faq_indent or not line.blank_before:
        return False
    if not ("?" in line.text or line.text.endswith(":")):
        return False
    return nxt is None or not (nxt.kind == "item" and nxt.marker == "•" and nxt.indent == line.indent)


def _is_inner_label(lines: list[Line], i: int) -> bool:
    """'Observação:' indented inside a list: a short colon-ended line that introduces the
    lines after it at its own indent (not deeper, as a step group's are)."""
    line = lines[i]
    nxt = lines[i + 1] if i + 1 < len(lines) else None
    return (
        line.kind == "para" and line.indent > 0 and line.text.endswith(":") and len(line.text.split()) <= 3
        and nxt is not None and nxt.kind != "heading" and nxt.indent >= line.indent
    )  # fmt: skip


def _has_children(lines: list[Line], i: int) -> bool:
    return i + 1 < len(lines) and lines[i + 1].indent > lines[i].indent


def _is_step_group(lines: list[Line], i: int) -> bool:
    """A list item like '1. Cliente parado:' whose nested lines are its content."""
    line = lines[i]
    return line.kind == "item" and line.text.endswith(":") and len(line.text) <= 120 and _has_children(lines, i)


def _pair_runs(lines: list[Line]) -> list[Line]:
    """Table-like runs ('title' line, 'description' line, ...) become heading + paragraph.

    Confluence's text export of a two-column table leaves consecutive lines with no blank
    between them; an odd first line describes the standalone line before the run.
    """
    out: list[Line] = []
    i = 0
    while i < len(lines):
        j = i
        while (
            j + 1 < len(lines)
            and lines[j + 1].kind == "para"
            and not lines[j + 1].blank_before
            and lines[j + 1].indent == lines[i].indent == 0
            and lines[i].kind == "para"
            and not _heading_number(lines[j + 1].text)
        ):
            j += 1
        run = lines[i : j + 1]
        if len(run) >= 4 and lines[i].kind == "para":
            start = 0
            if len(run) % 2 == 1:
                prev = out[-1] if out else None
                if prev is not None and prev.kind == "para" and prev.indent == 0 and len(prev.text) <= 100:
                    out[-1] = replace(prev, kind="heading", level=98)
                out.append(run[0])
                start = 1
            for k in range(start, len(run) - 1, 2):
                out.append(replace(run[k], kind="heading", level=98))
                out.append(run[k + 1])
        else:
            out.extend(run)
        i = j + 1
    return out


_LONG_WORD = re.compile(r"[^\W\d_]{8,}")  # a word long enough to be two glued words
_CASE_CHANGE = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Þ])")
_PART_MIN = 4  # letters of each glued part


class _Vocabulary:
    """The page's words, to split table-header cells an export glued together
    ('INSTRUÇÃO DE TRABALHODESCRIÇÃO': the cells 'INSTRUÇÃO DE TRABALHO' and 'DESCRIÇÃO')."""

    def __init__(self, lines: list[Line]) -> None:
        self.counts = Counter(w for ln in lines for w in re.findall(r"[^\W\d_]+", fold(ln.text)))

    def unglue(self, title: str) -> str:
        return _LONG_WORD.sub(lambda m: self._split(m.group(0)), title)

    def _split(self, token: str) -> str:
        # A case change inside a word is a boundary the text already shows ("TrabalhoDescrição").
        camel = [m.start() for m in _CASE_CHANGE.finditer(token)]
        if not token.isupper() and not camel:
            return token
        folded = fold(token)
        if self.counts[folded] > 1:  # a word the page uses elsewhere: not glued
            return token
        cuts = camel or range(_PART_MIN, len(token) - _PART_MIN + 1)
        for cut in cuts:
            if self.counts[fold(token[:cut])] and self.counts[fold(token[cut:])]:
                return f"{token[:cut]} {token[cut:]}"
        return token


def build_outline(lines: list[Line], title: str, page_text: str = "", *, own_page: bool = False) -> Section:
    """The section tree of ``lines``, each section anchored (see ``ingest.anchors``).

    ``page_text``: the page's whole visible text, to tell repeated headings apart in text
    directives; ``own_page``: bpa renders the document itself (/d), so sections get ids.
    """
    lines = _pair_runs(lines)
    vocabulary = _Vocabulary(lines)
    headings: dict[int, Heading] = {}
    root = Section(title=title)
    # Stack of (level, section). Level: numbered headings use their depth, h-tags their
    # number; labels, FAQs and table entries sit just below the heading they follow.
    stack: list[tuple[float, Section]] = [(0, root)]
    # Open step groups by indent; an inner label sits half a step above its own indent, so
    # lines at that indent stay inside it and the next label at that indent closes it.
    groups: list[tuple[float, Section]] = []
    # Pages with real headings are structured by them; the heuristics that find headings
    # in plain-text layout (numbered lines, short standalone lines) apply only without them.
    text_mode = not any(ln.kind == "heading" and ln.level < 10 for ln in lines)
    faq_indent = min((ln.indent for ln in lines if ln.kind == "item" and ln.marker == "•"), default=2)

    def close_entries() -> None:
        """A heading closes labels, FAQ entries, expand blocks and table entries before it."""
        while len(stack) > 1 and stack[-1][0] != int(stack[-1][0]):
            stack.pop()

    def opened(sec: Section, i: int) -> Section:
        before = lines[i - 1].visible if i > 0 else ""
        after = lines[i + 1].visible if i + 1 < len(lines) else ""
        headings[id(sec)] = Heading(lines[i].visible, before, after)
        return sec

    def open_section(level: float, sec: Section) -> None:
        while stack[-1][0] >= level:
            stack.pop()
        stack[-1][1].children.append(sec)
        stack.append((level, sec))
        groups.clear()

    def heading_level() -> float:
        for lvl, _ in reversed(stack):
            if lvl == int(lvl):
                return lvl
        return 0

    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if line.kind == "heading" and line.level < 10:
            close_entries()
            open_section(line.level, opened(Section(_title(line.text), anchor=line.anchor), i))
            continue
        if line.kind == "heading" and line.level == 99:  # expand macro title
            open_section(heading_level() + 0.5, opened(Section(_title(line.text), anchor=line.anchor), i))
            continue
        if line.kind == "heading":  # table entry
            open_section(heading_level() + 0.7, opened(Section(_title(line.text)), i))
            continue
        depth = _heading_number(line.text) if text_mode and line.kind == "para" and line.indent == 0 else 0
        plain = text_mode and _is_plain_heading(line, nxt)
        if depth:
            # Numbered headings belong to the page's numbering: they end a FAQ item (or a
            # label) rather than nest under it.
            close_entries()
            open_section(depth, opened(Section(_title(line.text), anchor=line.anchor), i))
        elif plain and fold(line.text) != fold(title):
            open_section(1, opened(Section(vocabulary.unglue(_title(line.text))), i))
        elif plain:  # the page title repeated: a top-level reset
            open_section(1, opened(Section(""), i))
        elif _is_label(line):
            open_section(heading_level() + 0.5, opened(Section(_title(line.text)), i))
        elif _is_faq(line, nxt, faq_indent):
            open_section(heading_level() + 0.6, opened(Section(_title(line.text), anchor=line.anchor), i))
        elif _is_step_group(lines, i) or _is_inner_label(lines, i):
            key = line.indent - (0.5 if line.kind == "para" else 0.0)
            while groups and groups[-1][0] >= key:
                groups.pop()
            parent = groups[-1][1] if groups else stack[-1][1]
            sec = opened(Section(_title(line.text), anchor=line.anchor), i)
            parent.children.append(sec)
            groups.append((key, sec))
        else:
            while groups and groups[-1][0] >= line.indent:
                groups.pop()
            target = groups[-1][1] if groups else stack[-1][1]
            target.blocks.append(_block(line))
    assign_anchors(root, headings, page_text, own_page=own_page)
    return root


def _block(line: Line) -> Block:
    if line.kind == "item":
        return Block("list_item", f"{line.marker} {line.text}", depth=max(0, line.indent // 2 - 1))
    kinds = {"row": "table_row", "code": "code", "quote": "quote"}
    return Block(kinds.get(line.kind, "paragraph"), line.text, depth=max(0, line.indent // 2))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# entry point


def _page_title(soup: BeautifulSoup) -> str | None:
    meta = soup.find("meta", attrs={"name": "ajs-page-title"})
    if isinstance(meta, Tag) and meta.get("content"):
        return collapse_ws(str(meta["content"]))
    for selector in ("#title-text", "h1.article-title", "title", "h1"):
        tag = soup.select_one(selector)
        if tag and tag.get_text(strip=True):
            text = collapse_ws(tag.get_text(" "))
            return re.sub(r"\s*[-|–]\s*(Confluence|TDN|Central de Atendimento).*$", "", text)
    return None


def _visible_text(soup: BeautifulSoup) -> str:
    """The text a browser searches for a text directive: the whole body, table of contents
    and navigation included (only scripts and styles are never shown)."""
    hidden = ("script", "style", "noscript", "template")
    body = soup.body or soup
    return " ".join(
        str(s) for s in body.find_all(string=True)
        if type(s) is NavigableString and s.parent is not None and s.parent.name not in hidden
    )  # fmt: skip


def _breadcrumbs(soup: BeautifulSoup) -> list[str]:
    crumbs = soup.select("#breadcrumbs li, ol.breadcrumbs li, ul.breadcrumbs li")
    return [collapse_ws(li.get_text(" ")) for li in crumbs if li.get_text(strip=True)]


def parse_document(raw: RawDocument, public_url: str) -> Document:
    """Parse one fetched page. Raises ParseError naming the problem."""
    if raw.html is None or not raw.html.strip():
        raise ParseError("página vazia")
    if "\x00" in raw.html:
        raise ParseError("conteúdo binário, não é HTML")
    # Title and breadcrumbs come from the full page, before the body is cut out.
    head = BeautifulSoup(raw.html, "lxml")
    cap_depth(head)  # before anything reads the tree: nothing below may cost more than linear time
    title = raw.title or _page_title(head) or raw.key.rsplit("/", 1)[-1]
    crumbs = raw.breadcrumbs or [c for c in _breadcrumbs(head) if fold(c) != fold(title)]
    for h1 in head.select("h1.article-title"):
        h1.decompose()
    lines, _ = html_to_lines(str(head))
    if not lines:
        raise ParseError("nenhum texto encontrado no HTML")
    # Without a public URL, citations link to bpa's own rendering (/d), which has an id per section.
    root = build_outline(lines, title, _visible_text(head), own_page=not raw.url)
    doc_id = document_id(raw.source, raw.key)
    url = raw.url or f"{public_url.rstrip('/')}/d/{doc_id}"
    return Document(
        id=doc_id,
        source=raw.source,
        key=raw.key,
        title=title,
        url=url,
        content_hash=raw.content_hash,
        root=root,
        updated_at=raw.updated_at,
        version=raw.version,
        breadcrumbs=list(crumbs),
        metadata=dict(raw.metadata),
    )
