"""Zendesk Help Center articles (KCS) over the Help Center API.

Protocol decisions:

* ``GET /api/v2/help_center/{locale}/articles.json``, or one
  ``/sections/{id}/articles.json`` listing per configured section, with cursor pagination
  (``page[size]=100``; follow ``links.next`` while ``meta.has_more``).
* ``label_names`` (comma-separated, "at least one of") is sent when labels are configured
  and also checked here, so a server that ignores the parameter on an endpoint cannot
  widen the source.
* The listing carries the bodies, so there is nothing to skip downloading; articles whose
  ``updated_at`` equals ``previous`` are still yielded ``unchanged`` so the pipeline does
  not re-parse and re-embed them.
* Auth: ``email/token:secret`` (or ``email:password``) → Basic; a token without ``:`` is
  an OAuth access token → Bearer; no ``token_env`` → anonymous (public articles only).
* A listing failure mid-way raises SourceError; documents already yielded are then
  discarded by the pipeline together with the rest of the run of this source.
* Every request stays on ``base_url``'s origin (the Fetcher is bound to it): a
  ``links.next`` elsewhere stops the listing with an error naming it, so the token is
  never sent there.
* ``html_url`` becomes the citation URL only when it is an http(s) URL; anything else
  (``javascript:``, ``data:``, relative) is replaced by ``{base_url}/hc/{locale}/articles/{id}``
  with a warning: the article itself is fine, only its link is not. It may be on another
  host (a Help Center's own domain), as it is only a link, never requested.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from index.settings import Settings
from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import ZendeskSourceConfig
from ingest.sources.http import (
    Fetcher,
    FetchError,
    MalformedResponse,
    Refused,
    authorization,
    is_web_url,
    listing_error,
    redact_url,
    url_origin,
)
from ingest.sources.limits import PageLimits

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # Zendesk's maximum for cursor pagination
_MAX_LISTING_PAGES = 100_000


class ZendeskSource:
    def __init__(self, cfg: ZendeskSourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.settings = settings
        self.base_url = cfg.base_url.rstrip("/")
        self.label = f"Zendesk '{cfg.name}'"

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        seen: set[str] = set()
        auth = authorization(self.cfg.token_env, self.label)
        limits = PageLimits.of(self.settings, self.cfg.page_deadline, self.cfg.max_page_mb)
        with Fetcher(self.settings, auth=auth, origin=self.base_url, limits=limits) as http:
            for url in self._listing_urls():
                for article in self._articles(http, url):
                    key = str(article["id"])
                    if key in seen or article.get("draft") or not self._labels_match(article):
                        continue
                    seen.add(key)
                    yield self._document(article, previous)

    def _listing_urls(self) -> list[str]:
        root = f"{self.base_url}/api/v2/help_center/{self.cfg.locale}"
        if self.cfg.section_ids:
            return [f"{root}/sections/{sid}/articles.json" for sid in self.cfg.section_ids]
        return [f"{root}/articles.json"]

    def _labels_match(self, article: dict[str, Any]) -> bool:
        if not self.cfg.labels:
            return True
        return bool(set(self.cfg.labels) & set(article.get("label_names") or []))

    # --- listing ---------------------------------------------------------------------

    def _articles(self, http: Fetcher, url: str) -> Iterator[dict[str, Any]]:
        """Every article of one listing, page after page; SourceError if it cannot finish."""
        params: dict[str, Any] | None = {"page[size]": PAGE_SIZE}
        if self.cfg.labels:
            params = {"page[size]": PAGE_SIZE, "label_names": ",".join(self.cfg.labels)}
        next_url: str | None = url
        seen: set[str] = set()
        try:
            while next_url is not None:
                if len(seen) >= _MAX_LISTING_PAGES or next_url in seen:
                    raise MalformedResponse("paginação sem fim (o servidor repete a mesma página)", url=next_url)
                seen.add(next_url)
                page = http.get_json(next_url, params)
                articles, next_url = _page_parts(page, next_url)
                if next_url is not None and url_origin(next_url) != url_origin(self.base_url):
                    raise Refused("links.next aponta para fora da base_url configurada", url=next_url)
                params = None  # the next link carries every parameter
                yield from articles
        except FetchError as e:
            raise SourceError(listing_error(self.label, self.cfg.token_env, e, "os artigos")) from e

    # --- documents -------------------------------------------------------------------

    def _document(self, article: dict[str, Any], previous: dict[str, str]) -> RawDocument:
        key = str(article["id"])
        title = str(article.get("title") or "")
        updated = article.get("updated_at")
        doc = RawDocument(
            source=self.name,
            key=key,
            url=self._citation_url(article, key),
            title=title,
            updated_at=updated,
            version=str(updated) if updated else None,
            metadata=self._metadata(article),
        )
        if doc.version is not None and previous.get(key) == doc.version:
            doc.unchanged = True
        elif isinstance(article.get("body"), str):
            doc.html = article["body"]
        else:
            doc.error = f"{self.label}: artigo '{title}' ({key}): corpo do artigo ausente ou inválido"
        return doc

    def _citation_url(self, article: dict[str, Any], key: str) -> str:
        fallback = f"{self.base_url}/hc/{self.cfg.locale}/articles/{key}"
        html_url = article.get("html_url")
        if html_url is None or html_url == "":
            return fallback
        if isinstance(html_url, str) and is_web_url(html_url):
            return html_url.strip()
        logger.warning(
            "%s: artigo %s: html_url %s não é http(s); o link citado será %s",
            self.label, key, redact_url(str(html_url)), fallback,
        )  # fmt: skip
        return fallback

    def _metadata(self, article: dict[str, Any]) -> dict[str, str]:
        meta = {"labels": ",".join(str(x) for x in article.get("label_names") or [])}
        if article.get("section_id") is not None:
            meta["section_id"] = str(article["section_id"])
        meta["locale"] = str(article.get("locale") or self.cfg.locale)
        return meta


def _page_parts(page: Any, url: str) -> tuple[list[dict[str, Any]], str | None]:
    """The articles of one listing page and the next page's URL (None at the end)."""
    if not isinstance(page, dict) or not isinstance(page.get("articles"), list):
        raise MalformedResponse("listagem sem 'articles'", url=url)
    articles = [a for a in page["articles"] if isinstance(a, dict)]
    if any(a.get("id") is None for a in articles):
        raise MalformedResponse("artigo sem id na listagem", url=url)
    meta = _dict(page.get("meta"))
    links = _dict(page.get("links"))
    if not meta.get("has_more"):
        return articles, None
    next_url = links.get("next")
    if not isinstance(next_url, str) or not next_url:
        raise MalformedResponse("meta.has_more sem links.next", url=url)
    return articles, next_url


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
