"""A Zendesk Help Center API stand-in."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.support.standins.server import _AUTO, Request, Response, StandinServer
from tests.support.standins.site import synthetic_articles

# --- Zendesk -------------------------------------------------------------------------


@dataclass
class ZendeskArticle:
    id: int
    title: str
    body: str | None  # None: an article whose body is null (broken)
    section_id: int = 1
    label_names: list[str] = field(default_factory=list)
    draft: bool = False
    locale: str = "pt-br"
    created_at: str = "2024-01-01T12:00:00Z"
    updated_at: str = "2024-01-01T12:00:00Z"
    html_url: str | None = None  # None: the usual {url}/hc/{locale}/articles/{id}-{slug}


class ZendeskStandin(StandinServer):
    """Help Center API: articles by locale or by section, cursor pagination, labels.

    ``max_page_size`` caps ``page[size]`` silently (Zendesk's own cap is 100). Drafts are
    listed (as for an agent's credentials): sources must skip them. ``honour_labels``
    False ignores ``label_names`` (a server that does not filter on an endpoint).
    ``next_origin`` (e.g. another stand-in's ``url``) puts ``links.next`` on that origin.
    """

    def __init__(
        self, *, max_page_size: int = 100, honour_labels: bool = True, expected_auth: str | None = None
    ) -> None:
        super().__init__(expected_auth=expected_auth)
        self.max_page_size = max_page_size
        self.honour_labels = honour_labels
        self.next_origin: str | None = None
        self.articles: dict[int, ZendeskArticle] = {}
        self._next_id = 360_000_000_001
        self._clock = 0

    @property
    def base_url(self) -> str:
        return self.url

    # --- the store ---------------------------------------------------------------------

    def add_article(
        self,
        title: str,
        body: str | None = _AUTO,
        *,
        id: int | None = None,
        section_id: int = 1,
        labels: list[str] | tuple[str, ...] = (),
        draft: bool = False,
        locale: str = "pt-br",
    ) -> ZendeskArticle:
        """Store an article (``body=None``: the API answers ``"body": null``)."""
        body = f"<p>Artigo sobre {title}.</p>" if body is _AUTO else body
        with self._lock:
            if id is None:
                id, self._next_id = self._next_id, self._next_id + 1
            stamp = self._tick()
            article = ZendeskArticle(
                id=id, title=title, body=body, section_id=section_id, label_names=list(labels),
                draft=draft, locale=locale, created_at=stamp, updated_at=stamp,
            )  # fmt: skip
            self.articles[id] = article
        return article

    def edit_article(
        self, id: int, *, title: str | None = None, body: str | None = None, labels: list[str] | None = None
    ) -> ZendeskArticle:
        """Change an article; ``updated_at`` moves forward."""
        with self._lock:
            article = self.articles[id]
            article.title = article.title if title is None else title
            article.body = article.body if body is None else body
            article.label_names = article.label_names if labels is None else list(labels)
            article.updated_at = self._tick()
            return article

    def delete_article(self, id: int) -> None:
        with self._lock:
            del self.articles[id]

    def add_synthetic(self, n: int, *, section_ids: tuple[int, ...] = (1,), seed: int = 0) -> list[ZendeskArticle]:
        """``n`` Portuguese KCS articles (see :func:`synthetic_articles`), round-robin over sections."""
        return [
            self.add_article(a.title, a.body, section_id=section_ids[i % len(section_ids)], labels=a.labels)
            for i, a in enumerate(synthetic_articles(n, seed=seed))
        ]

    def _tick(self) -> str:
        self._clock += 1
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + 60 * self._clock))

    # --- the API -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        m = re.fullmatch(r"/api/v2/help_center(?:/([\w-]+))?(?:/sections/(\d+))?/articles(?:\.json)?", request.path)
        if m is None:
            return Response.json({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        locale, section = m.group(1), m.group(2)
        labels = {x for x in (request.param("label_names") or "").split(",") if x and self.honour_labels}
        with self._lock:
            items = [
                a
                for a in self.articles.values()
                if (locale is None or a.locale == locale)
                and (section is None or a.section_id == int(section))
                and (not labels or labels & set(a.label_names))
            ]
        return self._cursor_page(request, items)

    def _cursor_page(self, request: Request, items: list[ZendeskArticle]) -> Response:
        size = max(1, min(int(request.param("page[size]") or 30), self.max_page_size))
        after = request.param("page[after]")
        start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        chunk = items[start : start + size]
        has_more = start + size < len(items)
        next_link = None
        if has_more:
            cursor = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            query = {k: v[0] for k, v in request.query.items() if k != "page[after]"}
            origin = self.next_origin or self.url
            next_link = f"{origin}{request.path}?{urlencode({**query, 'page[after]': cursor})}"
        return Response.json(
            {
                "articles": [self._article_json(a) for a in chunk],
                "meta": {"has_more": has_more, "after_cursor": None, "before_cursor": None},
                "links": {"first": None, "last": None, "next": next_link, "prev": None},
            }
        )

    def _article_json(self, a: ZendeskArticle) -> dict[str, Any]:
        slug = re.sub(r"[^a-z0-9]+", "-", a.title.lower()).strip("-")[:60]
        return {
            "id": a.id,
            "url": f"{self.url}/api/v2/help_center/{a.locale}/articles/{a.id}.json",
            "html_url": a.html_url if a.html_url is not None else f"{self.url}/hc/{a.locale}/articles/{a.id}-{slug}",
            "title": a.title,
            "body": a.body,
            "locale": a.locale,
            "source_locale": a.locale,
            "draft": a.draft,
            "section_id": a.section_id,
            "label_names": a.label_names,
            "author_id": 1,
            "outdated": False,
            "promoted": False,
            "position": 0,
            "vote_sum": 0,
            "created_at": a.created_at,
            "edited_at": a.updated_at,
            "updated_at": a.updated_at,
        }
