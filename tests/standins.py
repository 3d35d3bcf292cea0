"""Local stand-ins for Confluence, Zendesk Help Center and a plain web site.

Each one is a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, ephemeral port,
background thread) speaking the same JSON protocol as the real service, over an
in-memory store that tests may edit between runs. Every request is logged, and faults
can be injected per path: an HTTP status (e.g. 429 with Retry-After, once; 500 always or
N times), a slow answer, a malformed body.

    with ConfluenceStandin(max_limit=5) as cf:
        root = cf.add_page("100", "Raiz", "<p>raiz</p>")
        cf.add_page("101", "Filha", "<p>filha</p>", parent="100")
        cf.fail(r"/descendant/", status=429, retry_after="1", times=1)
        ...  # point a ConfluenceSourceConfig at cf.base_url with page_ids=["100"]
        assert cf.count(r"/content/101$") == 1

Usable from any test (``from standins import ...``: pytest puts tests/ on sys.path
because tests/conftest.py lives there) and from a benchmark (add tests/ to sys.path).
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from index.settings import Settings

# A body a sloppy editor could produce: unclosed tags, stray closers, a broken table.
MALFORMED_HTML = (
    "<div><h2>Procedimento<p>Passo 1: abra o <b>Configurador <i>e</b> siga</i>"
    "<table><tr><td>MV_ESTNEG<td>S</tr></div></span><ul><li>item sem fechar"
)
MALFORMED_JSON = b'{"results": [{"id": "1", "title": '
_AUTO: Any = object()  # "make up a body" (None means "no body")


def fast_settings(**overrides: Any) -> Settings:
    """Settings with tiny timeouts and backoff, so retry paths run in milliseconds."""
    values: dict[str, Any] = {"embedder": "fake", "http_timeout": 0.5, "http_retries": 2}
    values.update(http_backoff=0.01, http_concurrency=4)
    return Settings(**{**values, **overrides})


# --- requests, responses and faults --------------------------------------------------


@dataclass
class Request:
    """One request as the stand-in saw it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    body: bytes = b""  # what a POST carried

    @property
    def target(self) -> str:
        """``path?query``, percent-decoded: what fault and log patterns are matched against."""
        return f"{self.path}?{unquote(urlencode(self.query, doseq=True))}" if self.query else self.path

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status=status, body=json.dumps(data, ensure_ascii=False).encode())


@dataclass
class Fault:
    """Applied to requests whose ``target`` matches ``pattern`` (re.search).

    ``times``: how many requests it affects (None: all). ``delay``: seconds to wait before
    answering (a slow server). ``status``: answer this status instead of the real one.
    ``body``: answer these bytes with status 200 (malformed payloads).
    """

    pattern: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    body: bytes | None = None
    times: int | None = 1
    hits: int = 0

    def active(self) -> bool:
        return self.times is None or self.hits < self.times


class StandinServer:
    """Base: lifecycle, request log, faults. Subclasses implement :meth:`route`."""

    def __init__(self, *, expected_auth: str | None = None) -> None:
        # With ``expected_auth``, a request without that exact Authorization gets 401.
        self.expected_auth = expected_auth
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True, name=type(self).__name__
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a slow fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "stand-in not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- faults ------------------------------------------------------------------------

    def fail(
        self, pattern: str, status: int = 500, *, times: int | None = 1, retry_after: str | None = None
    ) -> Fault:
        """Answer ``status`` to matching requests (``times=None``: always)."""
        return self._add_fault(Fault(pattern, status=status, retry_after=retry_after, times=times))

    def slow(self, pattern: str, seconds: float, *, times: int | None = None) -> Fault:
        """Wait ``seconds`` before answering matching requests (past the client timeout)."""
        return self._add_fault(Fault(pattern, delay=seconds, times=times))

    def malformed(self, pattern: str, body: bytes = MALFORMED_JSON, *, times: int | None = None) -> Fault:
        """Answer 200 with ``body`` (by default truncated JSON) to matching requests."""
        return self._add_fault(Fault(pattern, body=body, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.active() and re.search(fault.pattern, request.target):
                    fault.hits += 1
                    return fault
        return None

    # --- request log -------------------------------------------------------------------

    def requests_to(self, pattern: str) -> list[Request]:
        """Logged requests whose ``path?query`` matches ``pattern`` (re.search)."""
        with self._lock:
            return [r for r in self.requests if re.search(pattern, r.target)]

    def count(self, pattern: str) -> int:
        return len(self.requests_to(pattern))

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # --- serving -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def _serve(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return Response(fault.status, b'{"error": "injected"}', headers=headers)
        if fault is not None and fault.body is not None:
            return Response(200, fault.body)
        if self.expected_auth is not None and request.headers.get("authorization") != self.expected_auth:
            return Response.json({"error": "Unauthorized"}, status=401)
        try:
            return self.route(request)
        except Exception:  # a bug in the stand-in: say so loudly rather than hang up
            traceback.print_exc()
            return Response(500, traceback.format_exc().encode(), "text/plain")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive handler threads must not hold up stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that timed out and hung up are expected here


class _Handler(BaseHTTPRequestHandler):
    standin: StandinServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            at=time.monotonic(),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )
        response = self.standin._serve(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_POST = do_GET  # same path: routes look at request.method and request.body

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _page_window(query: dict[str, list[str]], default: int, cap: int) -> tuple[int, int]:
    """(start, limit) from start/limit parameters, the limit silently capped."""
    start = int((query.get("start") or ["0"])[0] or 0)
    limit = int((query.get("limit") or [str(default)])[0] or default)
    return max(0, start), max(1, min(limit, cap))


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
            return Response.json(
                {"statusCode": 404, "message": f"No content found with id: {m.group(1)}"}, 404
            )
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
        webui = (
            f"/spaces/{page.space}/pages/{page.id}"
            if self.context
            else f"/pages/viewpage.action?pageId={page.id}"
        )
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
            data["ancestors"] = [
                {"id": a.id, "type": "page", "title": a.title} for a in self._ancestors(page)
            ]
        if "body.view" in expand:
            data["body"] = (
                {} if page.body is None else {"view": {"value": page.body, "representation": "view"}}
            )
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

    def add_synthetic(
        self, n: int, *, section_ids: tuple[int, ...] = (1,), seed: int = 0
    ) -> list[ZendeskArticle]:
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
        m = re.fullmatch(
            r"/api/v2/help_center(?:/([\w-]+))?(?:/sections/(\d+))?/articles(?:\.json)?", request.path
        )
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


# --- a plain web site ----------------------------------------------------------------


class SiteStandin(StandinServer):
    """Static pages by path (query strings ignored; /a/ serves /a), plus an optional robots.txt."""

    def __init__(self, *, robots: str | None = None) -> None:
        super().__init__()
        self.robots = robots  # None: /robots.txt answers 404
        self.pages: dict[str, Response] = {}

    def add(
        self, path: str, html: str, *, content_type: str = "text/html; charset=utf-8", status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        with self._lock:
            self.pages[path] = Response(status, html.encode(), content_type, dict(headers or {}))

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        with self._lock:
            self.pages[path] = Response(status, b"", "text/html", {"Location": to})

    def route(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            if self.robots is None:
                return Response(404, b"not found", "text/plain")
            return Response(200, self.robots.encode(), "text/plain; charset=utf-8")
        with self._lock:  # like most servers, /a/ serves /a
            page = self.pages.get(request.path) or self.pages.get(request.path.rstrip("/") or "/")
        return page if page is not None else Response(404, b"<h1>404</h1>", "text/html")


# --- synthetic Portuguese articles ---------------------------------------------------


@dataclass(frozen=True)
class SyntheticArticle:
    title: str
    body: str
    labels: list[str]
    code: str  # a token unique to the article (e.g. "BPA-00042"), handy for retrieval checks


_PRODUCTS = [
    ("Protheus", ["SIGAFAT", "SIGAEST", "SIGAFIN", "SIGACOM", "SIGAFIS", "SIGAGPE"]),
    ("RM", ["TOTVS Folha de Pagamento", "TOTVS Gestão Financeira", "TOTVS Educacional"]),
    ("Datasul", ["Faturamento", "Contas a Receber", "Manufatura"]),
    ("Fluig", ["ECM", "BPM", "Identity"]),
    ("Winthor", ["Rotina 316", "Rotina 1203", "Logística"]),
]
_TOPICS = [
    ("Como configurar o parâmetro {p}", "configuracao"),
    ("Erro {code} ao gerar a nota fiscal", "erro"),
    ("Lentidão ao processar {thing}", "desempenho"),
    ("Como atualizar o ambiente após a expedição contínua", "atualizacao"),
    ("Falha de integração com o {thing}", "integracao"),
    ("Boas práticas para abertura de chamado sobre {thing}", "boas-praticas"),
]
_PARAMS = ["MV_ESTNEG", "MV_PAR01", "MV_SPEDNFE", "MV_TPNRNFS", "MV_CONTSOC", "MV_ULMES"]
_THINGS = ["TSS", "SEFAZ", "eSocial", "SPED Fiscal", "REINF", "Smart View", "TOTVS Mobile", "PIX"]
_CAUSES = [
    "O parâmetro estava configurado com conteúdo divergente entre as filiais.",
    "O dicionário de dados não foi atualizado após a aplicação do pacote.",
    "O certificado digital do ambiente expirou.",
    "A tabela de preços informada não estava vigente na data do pedido.",
    "O serviço do TSS não estava em execução no servidor de aplicação.",
]
_STEPS = [
    "Acesse o módulo Configurador (SIGACFG).",
    "Em Ambiente > Cadastros > Parâmetros, localize o parâmetro indicado.",
    "Verifique o conteúdo em todas as filiais.",
    "Aplique o pacote de atualização mais recente da expedição contínua.",
    "Reinicie o serviço do AppServer e valide novamente o processo.",
    "Consulte o log do console.log para identificar a rotina com falha.",
    "Anexe ao chamado o print da mensagem e o arquivo de log.",
]


def synthetic_articles(n: int, *, seed: int = 0) -> list[SyntheticArticle]:
    """``n`` deterministic KCS-like articles in Portuguese (Ocorrência/Ambiente/Causa/Solução).

    Every article carries a unique code ``BPA-{i:05d}`` in its title and body.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        product, modules = rng.choice(_PRODUCTS)
        module = rng.choice(modules)
        topic, label = rng.choice(_TOPICS)
        code = f"BPA-{i:05d}"
        subject = topic.format(p=rng.choice(_PARAMS), code=code, thing=rng.choice(_THINGS))
        title = f"{product} - {module} - {subject} ({code})"
        steps = "".join(f"<li>{s}</li>" for s in rng.sample(_STEPS, 3))
        body = (
            f"<h2>Ocorrência</h2><p>Ao executar a rotina no {module} do {product}, o sistema apresenta a "
            f"mensagem {code}. {subject}.</p>"
            f"<h2>Ambiente</h2><p>{product} - {module} - Todas as versões.</p>"
            f"<h2>Causa</h2><p>{rng.choice(_CAUSES)}</p>"
            f"<h2>Solução</h2><ol>{steps}</ol>"
            f"<p>Persistindo a ocorrência, abra um chamado informando o código {code}.</p>"
        )
        out.append(SyntheticArticle(title=title, body=body, labels=[label, product.lower()], code=code))
    return out
