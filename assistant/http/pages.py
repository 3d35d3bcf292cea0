"""HTML served by the app: the question page (assistant/http/static) and /d/{document_id}."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from assistant.errors import NO_INDEX_MESSAGE, NoSnapshotError, UnknownDocument
from assistant.protocol import AssistantService
from assistant.types import DocumentSection, DocumentView
from index.models import PATH_SEP
from index.textutil import slugify, unique_id

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Everything the pages use is served by this app: no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Block texts as the chunker writes them: "• item", "1. step" (index.models / ingest.parse).
_BULLET = re.compile(r"^•\s+(.*)$")
_STEP = re.compile(r"^(\d{1,3})[.)]\s+(.*)$")
_PLAIN_ID = re.compile(r"[^\s\"'<>&]+")

# Browsers ignore control characters and spaces inside a URL ("java\tscript:"), so a URL with
# any of them is never a link, whatever its scheme looks like.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]")
_LINK_SCHEMES = frozenset({"http", "https"})


def safe_href(url: str) -> str | None:
    """``url`` when it may be a link: http(s) or relative; None for javascript:, data: and the rest.

    Document URLs come from the sources (Zendesk, Confluence, crawled pages): untrusted, as
    the web page and the sidebar already treat them.
    """
    if not url or _URL_NOISE.search(url):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return url if scheme in _LINK_SCHEMES or not scheme else None


def _heading_level(section: DocumentSection, document_title: str) -> int:
    """h2 for a top section, deeper by path depth (the path may start with the document title)."""
    parts = [p.strip() for p in section.path.split(PATH_SEP) if p.strip()] if section.path else [section.title]
    if len(parts) > 1 and parts[0] == document_title.strip():
        parts = parts[1:]
    return min(6, len(parts) + 1)


def section_ids(sections: list[DocumentSection]) -> list[str]:
    """One element id per section, unique on the page.

    A section's anchor is its id when it is one (bpa's own documents: unique ids given at
    ingest, which citations link to). Anchors that are text directives (pages bpa does not
    control: the browser finds the text itself) or empty get a slug of the path instead.
    """
    taken: set[str] = set()
    ids: list[str] = []
    for s in sections:  # first the real ids, so a generated one never takes a linked id
        own = bool(_PLAIN_ID.fullmatch(s.anchor)) and not s.anchor.startswith(":~:") and s.anchor not in taken
        ids.append(s.anchor if own else "")
        taken.update([s.anchor] if own else [])
    return [i or unique_id(slugify(s.path or s.title), taken) for i, s in zip(ids, sections, strict=True)]


def render_text(text: str) -> str:
    """A section's text: list items and numbered steps as lists, other lines as paragraphs."""
    out: list[str] = []
    open_list = ""
    for line in (ln.strip() for ln in text.split("\n")):
        if not line:
            continue
        bullet, step = _BULLET.match(line), _STEP.match(line)
        kind = "ul" if bullet else "ol" if step else ""
        if kind != open_list:
            if open_list:
                out.append(f"</{open_list}>")
            if kind:
                out.append(f'<{kind} class="doc-list">')
            open_list = kind
        if bullet:
            out.append(f"<li>{escape(bullet.group(1))}</li>")
        elif step:
            out.append(f'<li value="{int(step.group(1))}">{escape(step.group(2))}</li>')
        else:
            out.append(f"<p>{escape(line)}</p>")
    if open_list:
        out.append(f"</{open_list}>")
    return "".join(out)


def _render_section(section: DocumentSection, element_id: str, document_title: str) -> str:
    level = _heading_level(section, document_title)
    # The page's opening text (titled like the page, or untitled) has no heading of its own.
    own_heading = section.title and section.title.strip() != document_title.strip()
    heading = f"<h{level}>{escape(section.title)}</h{level}>" if own_heading else ""
    return (
        f'<section id="{escape(element_id)}" class="doc-section">{heading}'
        f'<p class="doc-path">{escape(section.path)}</p>{render_text(section.text)}'
        "</section>"
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>'
        f'<body class="doc-page"><main>{body}</main></body></html>'
    )


def render_document(view: DocumentView) -> str:
    updated = f" · atualizado em {escape(view.updated_at)}" if view.updated_at else ""
    href = safe_href(view.url)
    original = f'<a href="{escape(href)}" rel="noopener noreferrer">original</a> · ' if href else ""
    header = (
        f"<h1>{escape(view.title)}</h1>"
        f'<p class="doc-meta">Fonte: {escape(view.source)}{updated} · {original}'
        '<a href="/">fazer uma pergunta</a></p>'
    )
    ids = section_ids(view.sections)
    sections = "".join(_render_section(s, i, view.title) for s, i in zip(view.sections, ids, strict=True))
    return _page(view.title, header + (sections or "<p>Documento sem seções.</p>"))


def _message_page(status: int, title: str, message: str) -> HTMLResponse:
    body = f'<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href="/">Voltar</a></p>'
    return HTMLResponse(_page(title, body), status_code=status, headers=SECURITY_HEADERS)


def build_pages_router(service: AssistantService) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    @router.get("/d/{document_id}", response_class=HTMLResponse)
    def document_page(document_id: Annotated[str, PathParam(max_length=200)]) -> HTMLResponse:
        try:
            view = service.document(document_id)
        except UnknownDocument:
            return _message_page(404, "Documento não encontrado", "Este documento não está no índice atual.")
        except NoSnapshotError:
            return _message_page(503, "Índice indisponível", NO_INDEX_MESSAGE)
        return HTMLResponse(render_document(view), headers=SECURITY_HEADERS)

    return router
