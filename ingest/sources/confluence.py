"""Confluence pages over the REST API (Server/Data Center and Cloud).

Protocol decisions:

* The v1 REST API (``{base_url}/rest/api/...``) is used for both flavours. Cloud still
  serves it under ``/wiki/rest/api``, and it is the only API that has both CQL search
  (needed for ``space``) and ``descendant/page``; the v2 API has neither, so one code path
  covers Server/DC and Cloud. A ``base_url`` ending in ``/wiki`` is Cloud.
* Auth: a token with ``:`` is ``email:api-token`` (Cloud) or ``user:password`` → Basic;
  otherwise it is a personal access token (Server/DC) → Bearer.
* The listing is completed first, with ``expand=version`` only (cheap); only pages whose
  version differs from ``previous`` are then fetched with ``body.view``, concurrently. A
  listing failure therefore raises SourceError before anything is yielded.
* Pagination follows ``_links.next``. Servers cap ``limit`` silently (and some old ones
  omit ``next``), so without a next link a page as full as the *returned* limit is
  followed by ``start + size``; an empty page ends the walk.
* Every request stays on ``base_url``'s origin (the Fetcher is bound to it), and so must
  every ``_links`` URL of a listing (``base``, an absolute ``next``): anything else stops
  the listing with an error naming it, so the token is never sent elsewhere and no
  citation points elsewhere. A page body whose ``_links`` leave the origin keeps the URL
  its listing gave it. Citation URLs are built from ``base`` + ``webui`` and checked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from index.settings import Settings
from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import ConfluenceSourceConfig
from ingest.sources.http import (
    Fetcher,
    FetchError,
    MalformedResponse,
    Refused,
    authorization,
    listing_error,
    url_origin,
)
from ingest.sources.limits import PageLimits

logger = logging.getLogger(__name__)

PAGE_LIMIT = 100  # requested; the server may answer with fewer per page
_MAX_LISTING_PAGES = 100_000  # a guard against a server that paginates forever
_BODY_EXPAND = "body.view,version,ancestors,space"


@dataclass(frozen=True)
class _Listed:
    """A page as seen in the listing: enough to decide whether to fetch its body."""

    id: str
    title: str
    version: str | None
    url: str


class ConfluenceSource:
    def __init__(self, cfg: ConfluenceSourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.settings = settings
        self.base_url = cfg.base_url.rstrip("/")
        self.api = f"{self.base_url}/rest/api"
        self.cloud = self.base_url.endswith("/wiki")
        self.label = f"Confluence '{cfg.name}'"

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        auth = authorization(self.cfg.token_env, self.label)
        limits = PageLimits.of(self.settings, self.cfg.page_deadline, self.cfg.max_page_mb)
        with Fetcher(self.settings, auth=auth, origin=self.base_url, limits=limits) as http:
            listed = self._list(http)
            yield from http.map(partial(self._document, http, previous), listed)

    # --- listing ---------------------------------------------------------------------

    def _list(self, http: Fetcher) -> list[_Listed]:
        found: dict[str, _Listed] = {}
        try:
            for root_id in self.cfg.page_ids:
                self._add(found, self._root(http, root_id), self.base_url)
                if self.cfg.descendants:
                    url = f"{self.api}/content/{root_id}/descendant/page"
                    for item, base in self._paginate(http, url, {"expand": "version"}):
                        self._add(found, item, base)
            if self.cfg.space:
                params = {"cql": f'space="{self.cfg.space}" and type=page', "expand": "version"}
                for item, base in self._paginate(http, f"{self.api}/content/search", params):
                    self._add(found, item, base)
        except FetchError as e:
            raise SourceError(listing_error(self.label, self.cfg.token_env, e, "as páginas")) from e
        return list(found.values())

    def _root(self, http: Fetcher, root_id: str) -> dict[str, Any]:
        try:
            data = http.get_json(f"{self.api}/content/{root_id}", {"expand": "version"})
        except FetchError as e:
            if e.status == 404:
                raise SourceError(f"{self.label}: a página raiz {root_id} não existe (HTTP 404)") from e
            raise
        if not isinstance(data, dict):
            raise MalformedResponse("resposta inesperada para a página raiz", url=f"{self.api}/content/{root_id}")
        return data

    def _paginate(self, http: Fetcher, url: str, params: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
        """Yield (item, links base) over every listing page."""
        next_url: str | None = url
        next_params: dict[str, Any] | None = {**params, "start": 0, "limit": PAGE_LIMIT}
        seen: set[str] = set()
        while next_url is not None:
            if len(seen) >= _MAX_LISTING_PAGES or f"{next_url}{next_params}" in seen:
                raise MalformedResponse("paginação sem fim (o servidor repete a mesma página)", url=next_url)
            seen.add(f"{next_url}{next_params}")
            page = http.get_json(next_url, next_params)
            results, links = _listing_parts(page, next_url)
            base = self._on_origin(str(links.get("base") or self.base_url), "_links.base").rstrip("/")
            for item in results:
                yield item, base
            next_url, next_params = self._next(page, links, base, url, params)

    def _next(
        self, page: dict[str, Any], links: dict[str, Any], base: str, url: str, params: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        if isinstance(links.get("next"), str):
            link = _join_link(base, str(links.get("context") or ""), links["next"])
            return self._on_origin(link, "_links.next"), None
        size, start, limit = _int(page.get("size")), _int(page.get("start")), _int(page.get("limit"))
        if size > 0 and limit > 0 and size >= limit:
            # No next link but a full page: the server may just not say; ask for more.
            return url, {**params, "start": start + size, "limit": PAGE_LIMIT}
        return None, None

    def _add(self, found: dict[str, _Listed], item: dict[str, Any], base: str) -> None:
        if item.get("type", "page") != "page" or item.get("status", "current") != "current":
            return  # attachments, comments, blog posts; drafts, historical, trashed versions
        page_id = str(item.get("id") or "")
        if not page_id:
            raise MalformedResponse("item da listagem sem id", url=self.api)
        if page_id in found:
            return
        version = _path(item, "version", "number")
        found[page_id] = _Listed(
            id=page_id,
            title=str(item.get("title") or ""),
            version=None if version is None else str(version),
            url=self._web_url(item, base, page_id),
        )

    def _web_url(self, item: dict[str, Any], base: str, page_id: str) -> str:
        """The page's citation URL; Refused when the API would point it off the origin."""
        webui = _path(item, "_links", "webui")
        base = str(_path(item, "_links", "base") or base).rstrip("/")
        if isinstance(webui, str) and webui:
            return self._on_origin(base + webui, "_links.webui")
        return self._on_origin(f"{base}/pages/viewpage.action?pageId={page_id}", "_links.base")

    def _on_origin(self, url: str, what: str) -> str:
        """``url`` if it is on the configured base URL's origin, else Refused naming ``what``."""
        if url_origin(url) != url_origin(self.base_url):
            raise Refused(f"{what} aponta para fora da base_url configurada", url=url)
        return url

    # --- bodies ----------------------------------------------------------------------

    def _document(self, http: Fetcher, previous: dict[str, str], page: _Listed) -> RawDocument:
        doc = RawDocument(source=self.name, key=page.id, url=page.url, title=page.title, version=page.version)
        if page.version is not None and previous.get(page.id) == page.version:
            doc.unchanged = True
            return doc
        try:
            data = http.get_json(f"{self.api}/content/{page.id}", {"expand": _BODY_EXPAND})
            self._fill(doc, data)
        except FetchError as e:
            doc.error = f"{self.label}: página '{page.title}' ({page.id}): {e.reason}"
        except _BadPage as e:
            doc.error = f"{self.label}: página '{page.title}' ({page.id}): {e}"
        return doc

    def _fill(self, doc: RawDocument, data: Any) -> None:
        if not isinstance(data, dict):
            raise _BadPage("resposta inesperada da API")
        html = _path(data, "body", "view", "value")
        if not isinstance(html, str):
            raise _BadPage("corpo da página (body.view) ausente ou inválido")
        doc.html = html
        doc.title = str(data.get("title") or doc.title or "")
        if isinstance(data.get("_links"), dict):
            try:
                doc.url = self._web_url(data, self.base_url, doc.key)
            except Refused as e:  # keep the listing's URL, which was checked
                logger.warning("%s: página %s: %s (%s)", self.label, doc.key, e.reason, e.url)
        number = _path(data, "version", "number")
        doc.version = doc.version if number is None else str(number)
        when = _path(data, "version", "when")
        doc.updated_at = str(when) if when else None
        ancestors = data.get("ancestors")
        if isinstance(ancestors, list):  # root first
            doc.breadcrumbs = [str(_path(a, "title") or "") for a in ancestors]
        space = _path(data, "space", "key")
        if space:
            doc.metadata["space"] = str(space)


class _BadPage(ValueError):
    """A page's body response is not usable; the page is yielded with an error."""


def _listing_parts(page: Any, url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise MalformedResponse("listagem sem 'results'", url=url)
    results = [r for r in page["results"] if isinstance(r, dict)]
    links = page.get("_links")
    return results, links if isinstance(links, dict) else {}


def _join_link(base: str, context: str, link: str) -> str:
    """Resolve a ``_links.next``: relative to ``base``, which already includes ``context``.

    Some servers include the context path in the link itself; don't double it.
    """
    if link.startswith(("http://", "https://")):
        return link
    context = context.rstrip("/")
    if context and link.startswith(context + "/"):
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}{link}"
    return base + link


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _path(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None when any level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
