"""A Confluence (Server/DC and Cloud) REST API stand-in."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.support.standins.server import _AUTO, Request, Response, StandinServer, _page_window
from tests.support.standins.site import synthetic_articles

# --- Confluence ----------------------------------------------------------------------


@dataclass
class ConfluencePage:
    id: str
    title: str
    body: str | None  # None: the body.view is missing from the API answer (a broken page)
    space: str = "DOC"
    parent: str | None = None
    version: int = 1
    status: str = "current"  # "historical", "draft", "trashed" must be skipped by sources
    type: str = "page"  # "attachment", "comment", "blogpost" must be skipped by sources
    when: str = "2024-01-01T12:00:00.000Z"


class ConfluenceStandin(StandinServer):
    """Confluence REST API v1: content by id, descendants, children, CQL search.

    ``context="/wiki"`` serves like Cloud (``base_url`` then ends in /wiki); ``""`` like
    Server/DC. ``max_limit`` caps ``limit`` silently, as Confluence does. ``next_links``
    False omits ``_links.next`` (old servers), so clients must paginate by start/size.
    Listings return every stored item of the subtree or space, whatever its type and
    status, like a lenient server: sources must filter. ``links_origin`` (e.g. another
    stand-in's ``url``) makes listings claim that origin in ``_links.base``, and with
    ``absolute_next`` in absolute ``_links.next`` URLs (a hostile or misconfigured server).
    """

    def __init__(
        self,
        *,
        context: str = "",
        max_limit: int = 25,
        next_links: bool = True,
        expected_auth: str | None = None,
    ) -> None:
        super().__init__(expected_auth=expected_auth)
        self.context = context.rstrip("/")
        self.max_limit = max_limit
        self.next_links = next_links
        self.links_origin: str | None = None
        self.absolute_next = False
        self.pages: dict[str, ConfluencePage] = {}
        self._clock = 0

    @property
    def base_url(self) -> str:
        """What goes in sources.toml ``base_url``."""
        return self.url + self.context

    # --- the store ---------------------------------------------------------------------

    def add_page(
        self, id: str, title: str, body: str | None = _AUTO, *, parent: str | None = None, **fields: Any
    ) -> ConfluencePage:
        """Store a page (``body=None``: a page whose API answer lacks body.view)."""
        body = f"<h2>{title}</h2><p>Conteúdo da página {title}.</p>" if body is _AUTO else body
        page = ConfluencePage(id=str(id), title=title, body=body, parent=parent, when=self._tick(), **fields)
        with self._lock:
            self.pages[page.id] = page
        return page

    def edit_page(self, id: str, *, title: str | None = None, body: str | None = None) -> ConfluencePage:
        """Change a page and bump its version, as saving it in Confluence does."""
        with self._lock:
            page = self.pages[str(id)]
            page.title = page.title if title is None else title
            page.body = page.body if body is None else body
            page.version += 1
            page.when = self._tick()
            return page

    def delete_page(self, id: str) -> None:
        """Remove a page; its children move to its parent, as in Confluence."""
        with self._lock:
            page = self.pages.pop(str(id))
            for other in self.pages.values():
                if other.parent == page.id:
                    other.parent = page.parent

    def add_synthetic(
        self, n: int, *, parent: str | None = None, space: str = "DOC", first_id: int = 10_000, seed: int = 0
    ) -> list[ConfluencePage]:
        """``n`` Portuguese support pages (see :func:`synthetic_articles`) under ``parent``."""
        return [
            self.add_page(str(first_id + i), a.title, a.body, parent=parent, space=space)
            for i, a in enumerate(synthetic_articles(n, seed=seed))
        ]

    def _tick(self) -> str:
        self._clock += 1
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1_700_000_000 + 60 * self._clock))

    # --- the API -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        path = request.path
        if self.context:
            if not path.startswith(self.context + "/"):
                return Response.json({"statusCode": 404, "message": "not found"}, 404)
            path = path[len(self.context) :]
        if path == "/rest/api/content/search":
            return self._listing(request, path, self._search(request.param("cql") or ""))
        m = re.fullmatch(r"/rest/api/content/(\w+)(?:/(descendant|child)/page)?", path)
        if m is None:
            return Response.json({"statusCode": 404, "message": "not found"}, 404)
        with self._lock:
            page = self.pages.get(m.group(1))
        if page is None:
            return Response.json({"statusCode": 404, "message": f"No content found with id: {m.group(1)}"}, 404)
        if m.group(2) == "descendant":
            return self._listing(request, path, self._descendants(page.id))
        if m.group(2) == "child":
            return self._listing(request, path, self._children(page.id))
        return Response.json(self._content(page, _expand(request), single=True))

    def _children(self, page_id: str) -> list[ConfluencePage]:
        with self._lock:
            return [p for p in self.pages.values() if p.parent == page_id]

    def _descendants(self, page_id: str) -> list[ConfluencePage]:
        """Depth-first, children in insertion order."""
        children: dict[str | None, list[ConfluencePage]] = {}
        with self._lock:
            for p in self.pages.values():
                children.setdefault(p.parent, []).append(p)
        out: list[ConfluencePage] = []
        stack = list(reversed(children.get(page_id, [])))
        while stack:
            page = stack.pop()
            out.append(page)
            stack.extend(reversed(children.get(page.id, [])))
        return out

    def _search(self, cql: str) -> list[ConfluencePage]:
        """Only ``space=KEY`` is understood; everything in the space is returned (lenient)."""
        space = re.search(r'space\s*=\s*"?([\w-]+)"?', cql)
        with self._lock:
            return [p for p in self.pages.values() if space is None or p.space == space.group(1)]

    def _listing(self, request: Request, path: str, items: list[ConfluencePage]) -> Response:
        start, limit = _page_window(request.query, 25, self.max_limit)
        chunk = items[start : start + limit]
        expand = _expand(request)
        base = (self.links_origin + self.context) if self.links_origin else self.base_url
        links: dict[str, str] = {"base": base, "context": self.context, "self": self.base_url + path}
        if self.next_links and start + limit < len(items):
            query = {k: v[0] for k, v in request.query.items() if k not in ("start", "limit")}
            links["next"] = f"{path}?{urlencode({**query, 'start': start + limit, 'limit': limit})}"
            if self.absolute_next:
                links["next"] = base + links["next"]
        return Response.json(
            {
                "results": [self._content(p, expand, single=False) for p in chunk],
                "start": start,
                "limit": limit,
                "size": len(chunk),
                "_links": links,
            }
        )

    def _content(self, page: ConfluencePage, expand: set[str], *, single: bool) -> dict[str, Any]:
        webui = f"/spaces/{page.space}/pages/{page.id}" if self.context else f"/pages/viewpage.action?pageId={page.id}"
        data: dict[str, Any] = {
            "id": page.id,
            "type": page.type,
            "status": page.status,
            "title": page.title,
            "version": {"number": page.version, "when": page.when},
            "_links": {
                "webui": webui,
                "self": f"{self.base_url}/rest/api/content/{page.id}",
                "tinyui": "/x/abc",
            },
        }
        if single:
            data["_links"]["base"] = self.base_url
            data["_links"]["context"] = self.context
        if "space" in expand:
            data["space"] = {"key": page.space, "name": f"Espaço {page.space}"}
        if "ancestors" in expand:
            data["ancestors"] = [{"id": a.id, "type": "page", "title": a.title} for a in self._ancestors(page)]
        if "body.view" in expand:
            data["body"] = {} if page.body is None else {"view": {"value": page.body, "representation": "view"}}
        return data

    def _ancestors(self, page: ConfluencePage) -> list[ConfluencePage]:
        chain: list[ConfluencePage] = []
        with self._lock:
            parent = self.pages.get(page.parent) if page.parent else None
            while parent is not None:
                chain.append(parent)
                parent = self.pages.get(parent.parent) if parent.parent else None
        return chain[::-1]  # root first, as Confluence returns them


def _expand(request: Request) -> set[str]:
    return {e.strip() for e in (request.param("expand") or "").split(",") if e.strip()}
