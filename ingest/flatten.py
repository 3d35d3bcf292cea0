"""Pass 1 of parsing: HTML -> typed lines (headings, list items, paragraphs, table rows).

Nothing here recurses on the page's depth: the DOM is walked with explicit stacks, and
elements nested deeper than ``MAX_DEPTH`` are flattened to their text first (a page nested
100,000 levels deep keeps its text, read in linear time; no real page nests that deep).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag

from index.textutil import collapse_ws, fold

MAX_DEPTH = 200  # elements below this depth are read as plain text
_STRUCTURED = {"ul", "ol", "table", "thead", "tbody", "tfoot", "tr", "dl"}

_HEADING_NUM = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\s*(?:-|–|\.)\s+(\S.{0,150})$")


def _heading_number(text: str) -> int:
    """Depth of a numbered heading ('1.1.2 - X' -> 3), 0 when the text is not one."""
    m = _HEADING_NUM.match(text)
    return len(m.group(1).split(".")) if m else 0


@dataclass
class Line:
    kind: str  # heading | item | para | row | code | quote
    text: str
    indent: int = 0
    level: int = 0  # headings only
    marker: str = ""  # list items: "•" or "1."
    anchor: str = ""  # element id, when the HTML has one
    blank_before: bool = True
    shown: str = ""  # the text as the page shows it (a text marker included), when it differs

    @property
    def visible(self) -> str:
        return self.shown or self.text


# ---------------------------------------------------------------------------------------
# pass 1: HTML -> lines

_DROP_TAGS = ("style", "script", "noscript", "template", "svg", "head", "nav", "header", "footer", "form")
_DROP_CLASSES = ("toc-macro", "toc", "client-side-toc-macro", "hidden", "breadcrumbs")
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "body", "html", "center", "dl", "dd", "dt", "figure"}
_INLINE_BREAK = {"br"}
_MACRO_PARAM = re.compile(r"^[a-z][\w-]*(\.[\w-]+)+\s*=\s*\S+$", re.IGNORECASE)  # deck.tab.x = #fff
_TOC_WORDS = {"indice", "sumario", "table of contents", "conteudo"}
_BULLET = re.compile(r"^([•·▪◦●○■\-*])\s+(.*)$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*[.)]|[a-z][.)])\s+(.*)$")


def _is_toc_list(tag: Tag) -> bool:
    links = tag.find_all("a")
    items = [li for li in tag.find_all("li") if li.get_text(strip=True)]
    if links and items and all(str(a.get("href", "")).startswith("#") for a in links):
        return len(links) >= len(items) * 0.8
    return bool(items) and all(fold(li.get_text(" ", strip=True)) in _TOC_WORDS for li in items)


def _clean_tree(root: Tag) -> None:
    for tag in root.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in root.find_all(class_=lambda c: bool(c) and any(x in _DROP_CLASSES for x in c.split())):
        tag.decompose()
    for tag in root.find_all(["ul", "ol"]):
        if not tag.decomposed and _is_toc_list(tag):
            tag.decompose()


# A list's pending work, in order: lines to emit and nested lists (with their depth) to read.
_Tasks = list[tuple[Tag, int] | Line]


class _Flattener:
    """Walks the DOM, collecting inline text and emitting Lines at block boundaries."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.buf: list[str] = []

    def flush(self, indent: int = 0) -> None:
        text = "".join(self.buf)
        self.buf = []
        if text.strip():
            self.lines.extend(text_to_lines(text, base_indent=indent))

    def walk(self, node: Tag, depth: int = 0) -> None:
        """Flatten ``node``'s subtree. An explicit stack, not recursion: a page nested
        100,000 levels deep is walked like any other (its text kept, in order)."""
        # Per open element: its remaining children, and whether it is a block (flushed at its end).
        stack: list[tuple[Iterator[PageElement], bool]] = [(iter(node.children), False)]
        while stack:
            children, is_block = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if is_block:
                    self.flush()
                continue
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # skip comments, CDATA, doctype
                    self.buf.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            if self._leaf(child, depth):
                continue
            block = (child.name or "") in _BLOCK_TAGS or child.name == "li"
            if block:
                self.flush()
            stack.append((iter(child.children), block))  # inline: a, span, font, strong, em, code...

    def _leaf(self, child: Tag, depth: int) -> bool:
        """Emit the lines of an element read whole (heading, list, table...); False for
        elements whose children are walked."""
        name = child.name or ""
        if re.fullmatch(r"h[1-6]", name):
            self.flush()
            text = collapse_ws(child.get_text(" "))
            if text:
                level, shown = int(name[1]), _shown(child.get_text())
                self.lines.append(Line("heading", text, level=level, anchor=_anchor_of(child), shown=shown))
        elif name in ("ul", "ol"):
            self.flush()
            self.list(child, depth)
        elif name == "table":
            self.flush()
            self.table(child)
        elif name == "pre":
            self.flush()
            self.lines.append(Line("code", child.get_text().strip("\n")))
        elif name == "blockquote":
            self.flush()
            self.lines.append(Line("quote", collapse_ws(child.get_text(" "))))
        elif _is_expand_title(child):
            self.flush()
            self.lines.append(Line("heading", collapse_ws(child.get_text(" ")), level=99))
        elif name in _INLINE_BREAK:
            self.buf.append("\n")
        else:
            return False
        return True

    def list(self, tag: Tag, depth: int) -> None:
        """A list's items, nested lists indented under them (an explicit stack: lists nested
        thousands deep are read like shallow ones)."""
        todo: _Tasks = [(tag, depth)]
        while todo:
            task = todo.pop()
            if isinstance(task, Line):
                self.lines.append(task)
            else:
                todo.extend(reversed(self._list_level(*task)))

    def _list_level(self, tag: Tag, depth: int) -> _Tasks:
        """One list's lines, in order, with its nested lists left as (list, depth) to read."""
        out: _Tasks = []
        ordered = tag.name == "ol"
        for n, li in enumerate(tag.find_all("li", recursive=False), 1):
            own: list[str] = []
            nested: list[Tag] = []
            for child in li.children:
                # Paragraphs after a nested list belong with it, not with the item's own text.
                if isinstance(child, Tag) and (child.name in ("ul", "ol") or (child.name in ("p", "div") and nested)):
                    nested.append(child)
                elif isinstance(child, Tag):
                    own.append(child.get_text(" "))
                elif type(child) is NavigableString:
                    own.append(str(child))
            text = collapse_ws(" ".join(own))
            marker = f"{n}." if ordered else "•"
            if text:
                out.append(Line("item", text, indent=2 + 2 * depth, marker=marker, anchor=_anchor_of(li)))
            for sub in nested:
                if sub.name in ("ul", "ol"):
                    out.append((sub, depth + 1))
                else:
                    t = collapse_ws(sub.get_text(" "))
                    if t:
                        out.append(Line("para", t, indent=4 + 2 * depth))
        # Lists nested directly in lists (invalid but common in Confluence exports).
        out.extend((sub, depth + 1) for sub in tag.find_all(["ul", "ol"], recursive=False))
        return out

    def table(self, tag: Tag) -> None:
        for tr in tag.find_all("tr"):
            tds = [c for c in tr.find_all(["td", "th"], recursive=False) if c.get_text(strip=True)]
            if tds:  # the first cell is what directly follows the text before the row
                cells = [collapse_ws(c.get_text(" ")) for c in tds]
                self.lines.append(Line("row", " — ".join(cells), shown=_shown(tds[0].get_text())))


def _is_expand_title(tag: Tag) -> bool:
    classes: list[str] = list(tag.get("class") or [])
    return "expand-control-text" in classes


def _anchor_of(tag: Tag) -> str:
    ident = tag.get("id")
    return str(ident) if ident else ""


def _shown(text: str) -> str:
    """Text as a browser renders it: ASCII whitespace runs collapse, no-break spaces stay."""
    return re.sub(r"[ \t\n\r\f]+", " ", text).strip(" \t\n\r\f\xa0")


def text_to_lines(text: str, base_indent: int = 0) -> list[Line]:
    """Classify plain-text lines by indentation and markers."""
    out: list[Line] = []
    blank = True
    for raw in text.replace("\r", "").replace("\t", "    ").split("\n"):
        stripped = raw.replace("\xa0", " ").rstrip()
        body = stripped.lstrip()
        if not body:
            blank = True
            continue
        indent = base_indent + len(stripped) - len(body)
        shown = _shown(raw)
        body = collapse_ws(body)
        if _MACRO_PARAM.match(body):
            continue
        m = _BULLET.match(body)
        n = _NUMBERED.match(body)
        if m:
            out.append(Line("item", m.group(2), indent=indent, marker="•", blank_before=blank, shown=shown))
        elif n and (indent > 0 or not _heading_number(body)):
            out.append(Line("item", n.group(2), indent=indent, marker=n.group(1), blank_before=blank, shown=shown))
        else:
            out.append(Line("para", body, indent=indent, blank_before=blank, shown=shown))
        blank = False
    return out


def cap_depth(root: Tag, limit: int = MAX_DEPTH) -> int:
    """Replace what each element at depth ``limit`` holds by its text; the number of
    elements so flattened. One pass over the tree, no recursion."""
    flattened = 0
    stack: list[tuple[Tag, int]] = [(root, 0)]
    while stack:
        tag, depth = stack.pop()
        children = [c for c in tag.children if isinstance(c, Tag)]
        if depth < limit:
            stack.extend((c, depth + 1) for c in children)
            continue
        if not children:
            continue
        flattened += 1
        text = tag.get_text(" ")  # bs4 reads the strings iteratively
        tag.clear()
        tag.append(NavigableString(text))
        if tag.name in _STRUCTURED:  # a list or table with no rows left: read as a paragraph
            tag.name = "div"
    return flattened


def html_to_lines(html: str) -> tuple[list[Line], BeautifulSoup]:
    soup = BeautifulSoup(html, "lxml")
    cap_depth(soup)
    root: Tag = soup.select_one("div#main-content") or soup.select_one("div.article-body") or soup
    _clean_tree(root)
    flat = _Flattener()
    flat.walk(root)
    flat.flush()
    return flat.lines, soup
