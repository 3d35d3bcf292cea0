"""Links that land: every citation URL of the default corpus opens its own section, also
when headings repeat ("Introdução › Cliente parado" vs "Desenvolvimento › Cliente parado").

Two renderings: bpa's own (/d, element ids) and the original page served as a public page
bpa does not control (text directives, ``#:~:text=...``).
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from assistant.http import create_app
from assistant.service import Assistant
from index.embedding.fake import FakeEmbedder
from index.models import Chunk
from index.settings import Settings
from index.snapshot import SnapshotStore
from ingest.chunk import ChunkingConfig, chunk_document
from ingest.parse import parse_document
from ingest.pipeline import run_ingest
from ingest.sources.base import RawDocument
from tests.support.common import SEED

pytestmark = pytest.mark.browser

TARGET = """
const t = document.querySelector(':target');
if (!t) return null;
const path = t.querySelector('.doc-path');
return {id: t.id, path: path ? path.textContent : '', text: t.innerText.replace(/\\s+/g, ' '),
        top: t.getBoundingClientRect().top,
        atBottom: window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2};
"""

# Whether ``arguments[0]`` (whitespace-insensitive) is on screen: the browser scrolls a text
# directive's match into view, so the section's own words are visible only if it landed.
ON_SCREEN = """
const needle = arguments[0].toLowerCase().replace(/\\s+/g, ' ');
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let text = '', map = [], node;
while ((node = walker.nextNode())) {
  if (node.parentElement && ['SCRIPT', 'STYLE'].includes(node.parentElement.tagName)) continue;
  for (let i = 0; i < node.data.length; i++) {
    const ch = /\\s/.test(node.data[i]) ? ' ' : node.data[i].toLowerCase();
    if (ch === ' ' && text.endsWith(' ')) continue;
    text += ch; map.push([node, i]);
  }
}
for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
  const r = document.createRange(), last = map[at + needle.length - 1];
  r.setStart(map[at][0], map[at][1]);
  r.setEnd(last[0], last[1] + 1);
  const box = r.getBoundingClientRect();
  if (box.top >= 0 && box.bottom <= window.innerHeight) return true;
}
return false;
"""


def _first_words(chunk: Chunk, n: int = 6) -> str:
    """The opening words of a chunk as a page shows them (list markers are not text there)."""
    first = chunk.text.split("\n")[0].strip()
    for marker in ("• ",):
        first = first.removeprefix(marker)
    words = first.split()
    if words and words[0].rstrip(".)").isdigit():
        words = words[1:]
    return " ".join(words[:n])


def _one_per_section(chunks: list[Chunk]) -> list[Chunk]:
    """The first chunk of every section."""
    seen: dict[tuple[str, ...], Chunk] = {}
    for c in sorted(chunks, key=lambda c: c.ordinal):
        seen.setdefault(c.section_path, c)
    return list(seen.values())


def test_every_citation_opens_its_own_section_on_the_document_page(browser, live_server, settings: Settings) -> None:
    embedder = FakeEmbedder()
    run_ingest(settings, embedder)
    server = live_server(create_app(settings, Assistant(settings, embedder)))
    chunks = _one_per_section(list(SnapshotStore(settings.data_dir).open_current().all_chunks().values()))
    repeated = [t for t, n in Counter(c.section_path[-1] for c in chunks).items() if n > 1]
    assert {"Cliente parado", "Performance", "Exemplos de interações"} <= set(repeated)

    for chunk in chunks:
        url = urlsplit(chunk.url)
        assert url.path.startswith("/d/"), chunk.url
        browser.get(f"{server.url}{url.path}#{url.fragment}" if url.fragment else f"{server.url}{url.path}")
        if not url.fragment:  # the page's opening text: the top of the page
            assert browser.execute_script("return window.scrollY") == 0
            assert _first_words(chunk) in browser.find_element("tag name", "main").text
            continue
        landed = browser.execute_script(TARGET)
        assert landed is not None, f"nothing targeted by {chunk.url}"
        assert landed["id"] == chunk.anchor, chunk.section
        assert landed["path"] == chunk.section
        assert " ".join(_first_words(chunk).split()) in landed["text"], chunk.section
        assert -2 <= landed["top"] <= 40 or landed["atBottom"], (chunk.section, landed["top"])


def test_repeated_headings_land_on_their_own_occurrence_on_a_public_page(browser, live_server) -> None:
    html = SEED.read_text(encoding="utf-8")
    page = FastAPI()
    page.add_api_route("/pagina", lambda: HTMLResponse(html))
    server = live_server(page)
    raw = RawDocument(source="t", key="seed", url=f"{server.url}/pagina", html=html, title="Boas Práticas do Suporte")
    chunks = _one_per_section(chunk_document(parse_document(raw, "http://bpa.invalid"), ChunkingConfig()))
    titles = Counter(c.section_path[-1] for c in chunks)
    repeated = [c for c in chunks if titles[c.section_path[-1]] > 1]
    assert len(repeated) >= 6

    scrolled: dict[str, set[int]] = {}
    for chunk in repeated:
        browser.get("about:blank")  # a text directive applies on a new document load
        browser.get(chunk.url)
        assert browser.execute_script(ON_SCREEN, _first_words(chunk)), (chunk.section, chunk.url)
        scrolled.setdefault(chunk.section_path[-1], set()).add(browser.execute_script("return window.scrollY"))
    assert all(len(ys) == titles[title] for title, ys in scrolled.items()), scrolled
