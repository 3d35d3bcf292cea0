"""Web pages: a small polite crawler (robots.txt, allow-list, limits, per-host delay).

* Breadth-first from ``urls``; a start URL is depth 0 and links are followed while the
  depth stays within ``max_depth``; at most ``max_pages`` documents are yielded.
* Links are followed only under an ``allow`` prefix; with no ``allow``, only within the
  start URLs' origins. A prefix is compared part by part (scheme, host, port, then the
  path as a string prefix), so ``http://a.com`` never allows ``http://a.com.evil.net`` or
  ``http://a.com@evil.net``, and ``http://127.0.0.1:80`` never allows port 8080.
* Redirects (of start URLs too) are followed hop by hop, each hop checked before it is
  requested: it must be http(s) and under an ``allow`` prefix, and if its host resolves to
  a loopback, private, link-local or otherwise non-public address, the allow-list must name
  that address literally with its port (``http://127.0.0.1:8080/`` allows exactly that; a
  host *name* does not count, so a public name rebound to an internal address is refused).
  A linked page redirected elsewhere is skipped with a warning naming both URLs (without
  their query strings); a start URL redirected elsewhere fails the source. robots.txt may
  only redirect within its own origin; otherwise it counts as unavailable (no rules).
* robots.txt per origin, read with the same client (RFC 9309: a 4xx means no rules; a
  5xx or network failure means "disallow everything"); ``Crawl-delay`` raises ``delay``.
* Keys are canonical URLs: ``<link rel=canonical>`` when it stays on an allowed site,
  else the final URL; fragments dropped, host lower-cased, default ports and trailing
  slashes removed. Two URLs with one canonical yield one document.
* HTML only (``text/html``, ``application/xhtml+xml``): other bodies are not downloaded.
* A start URL that fails raises SourceError; a linked page that fails is yielded with
  ``error``. ``version`` is left None: the pipeline uses the content hash.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import socket
import time
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import httpx
from bs4 import BeautifulSoup

from index.settings import Settings
from ingest.charset import decode_page, log_decoding
from ingest.flatten import cap_depth
from ingest.sources.base import RawDocument, SourceError
from ingest.sources.config import WebSourceConfig
from ingest.sources.http import USER_AGENT, Fetcher, FetchError, Refused, UrlCheck, redact_url, url_origin
from ingest.sources.limits import PageLimits

logger = logging.getLogger(__name__)

MAX_CRAWL_DELAY = 60.0
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SKIP_EXTENSIONS = (
    ".pdf", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".css", ".js",
    ".mp4", ".mp3", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".exe", ".gz",
)  # fmt: skip


def normalize_url(url: str) -> str:
    """The comparable form of a URL: no fragment, lower-case host, no default port or trailing /."""
    parts = urlsplit(urldefrag(url)[0])
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = parts.path or "/"
    if path != "/":
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class _Prefix:
    """One ``allow`` entry: an origin and a path (and query) prefix on it."""

    origin: str
    path: str

    @classmethod
    def parse(cls, entry: str) -> _Prefix | None:
        site = url_origin(entry)
        if not site:
            return None
        return cls(site, _target(entry))

    def covers(self, url: str) -> bool:
        return url_origin(url) == self.origin and _target(url).startswith(self.path)

    def address(self) -> tuple[_IP, int] | None:
        """(IP, port) when the entry names an address literally, else None."""
        parts = urlsplit(self.origin)
        try:
            return _unmapped(ipaddress.ip_address(parts.hostname or "")), _port(self.origin)
        except ValueError:
            return None


def _target(url: str) -> str:
    parts = urlsplit(urldefrag(url.strip())[0])
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _unmapped(ip: _IP) -> _IP:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


def _internal_addresses(url: str) -> set[tuple[_IP, int]]:
    """The non-public addresses ``url``'s host resolves to, with the port (empty if none)."""
    host, port = urlsplit(url).hostname or "", _port(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()  # unresolvable: the request itself will fail
    found: set[tuple[_IP, int]] = set()
    for *_, sockaddr in infos:
        ip = _unmapped(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        if not ip.is_global or ip.is_multicast:
            found.add((ip, port))
    return found


def _is_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return not ctype or ctype in _HTML_TYPES


class WebSource:
    def __init__(self, cfg: WebSourceConfig, settings: Settings) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.settings = settings
        self.label = f"web '{cfg.name}'"

    def fetch(self, previous: dict[str, str]) -> Iterator[RawDocument]:
        # ``previous`` holds content hashes: nothing can be skipped without downloading.
        limits = PageLimits.of(self.settings, self.cfg.page_deadline, self.cfg.max_page_mb)
        with Fetcher(self.settings, limits=limits) as http:
            yield from _Crawl(self, http).run()


class _Crawl:
    """The state of one crawl: queue, what was seen, robots rules and host clocks."""

    def __init__(self, source: WebSource, http: Fetcher) -> None:
        self.source = source
        self.cfg = source.cfg
        self.http = http
        self.starts = [urldefrag(u)[0] for u in self.cfg.urls]
        self.start_keys = {normalize_url(u) for u in self.starts}
        entries = list(self.cfg.allow) or [o + "/" for o in sorted({url_origin(u) for u in self.starts})]
        self.allow: list[_Prefix] = []
        for entry in entries:
            prefix = _Prefix.parse(entry)
            if prefix is None:
                logger.warning("%s: entrada de allow ignorada (não é uma URL http/https): %s",
                               source.label, redact_url(entry))  # fmt: skip
            else:
                self.allow.append(prefix)
        # Internal addresses a redirect may reach: only those the allow-list writes down.
        self.named = {a for a in (p.address() for p in self.allow) if a is not None}
        self.robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self.last_request: dict[str, float] = {}
        self.queue: deque[tuple[str, int]] = deque((u, 0) for u in self.starts)
        self.seen = set(self.start_keys)  # normalized URLs queued or fetched

    def run(self) -> Iterator[RawDocument]:
        yielded: set[str] = set()
        while self.queue and len(yielded) < self.cfg.max_pages:
            url, depth = self.queue.popleft()
            page = self._visit(url)
            if page is None:
                continue
            if isinstance(page, RawDocument):  # a linked page that failed
                yielded.add(page.key)
                yield page
                continue
            final, response = page
            try:
                html = _decode(response, self.source.label, final)
                soup = BeautifulSoup(html, "lxml")
                cap_depth(soup)  # links and canonical are read from a tree of bounded depth
                key = self._canonical(soup, final)
            except Exception as e:  # one hostile page fails alone
                key = normalize_url(url)
                yielded.add(key)
                reason = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
                yield RawDocument(source=self.source.name, key=key, url=key,
                                  error=f"{self.source.label}: página {redact_url(url)}: {reason}")  # fmt: skip
                continue
            self.seen.update({normalize_url(final), key})
            if key in yielded:
                continue  # another URL of a page already yielded
            yielded.add(key)
            yield RawDocument(source=self.source.name, key=key, url=key, html=html, updated_at=_last_modified(response))
            if depth < self.cfg.max_depth:
                self._enqueue(self._links(soup, final), depth + 1)

    def _enqueue(self, links: list[str], depth: int) -> None:
        for link in links:
            norm = normalize_url(link)
            if norm not in self.seen:
                self.seen.add(norm)
                self.queue.append((link, depth))

    # --- one page --------------------------------------------------------------------

    def _visit(self, url: str) -> tuple[str, httpx.Response] | RawDocument | None:
        """The page's final URL and response; an error document; or None to skip it."""
        is_start = normalize_url(url) in self.start_keys
        if not self._robots_allow(url):
            if is_start:
                raise SourceError(f"{self.source.label}: o robots.txt do site não permite acessar {url}")
            return None
        try:
            response = self._get(url)
        except Refused as e:
            if is_start:
                raise SourceError(f"{self.source.label}: a página inicial {redact_url(url)} não foi indexada: "
                                  f"{e}") from e  # fmt: skip
            logger.warning("%s: página %s ignorada: %s", self.source.label, redact_url(url), e)
            return None
        except FetchError as e:
            if is_start:
                raise SourceError(f"{self.source.label}: não foi possível baixar a página inicial {url}: "
                                  f"{e.reason}") from e  # fmt: skip
            if e.status in (404, 410):
                return None  # a dead link: the page is gone, not failing (a completed crawl drops it)
            key = normalize_url(url)
            return RawDocument(
                source=self.source.name,
                key=key,
                url=key,
                error=f"{self.source.label}: página {url}: {e.reason}",
            )
        if response is None:
            if is_start:
                raise SourceError(f"{self.source.label}: a página inicial {url} não é HTML")
            return None
        return str(response.url), response  # every redirect hop passed _redirect_refusal

    def _get(self, url: str, *, html_only: bool = True) -> httpx.Response | None:
        self._wait_turn(url)
        try:
            if html_only:
                return self.http.get_if(url, _is_html, check=self._redirect_refusal)
            return self.http.get(url, check=_same_origin_as(url))
        finally:
            self.last_request[url_origin(url)] = time.monotonic()

    def _redirect_refusal(self, hop: str) -> str | None:
        """Why a redirect hop may not be requested (None: it may)."""
        if not self._allowed(hop):
            return "fora da lista allow"
        if _internal_addresses(hop) - self.named:
            return "endereço interno (loopback, privado ou link-local) que a lista allow não nomeia"
        return None

    def _canonical(self, soup: BeautifulSoup, final: str) -> str:
        for link in soup.find_all("link", href=True):
            rel = link.get("rel")
            rels: list[str] = [str(r) for r in rel] if isinstance(rel, list) else str(rel or "").split()
            if "canonical" in [r.lower() for r in rels]:
                target = urljoin(final, str(link["href"]).strip())
                if url_origin(target) and (url_origin(target) == url_origin(final) or self._allowed(target)):
                    return normalize_url(target)
        return normalize_url(final)

    def _links(self, soup: BeautifulSoup, final: str) -> list[str]:
        base_tag = soup.find("base", href=True)
        base = urljoin(final, str(base_tag["href"])) if base_tag else final
        links = []
        for a in soup.find_all("a", href=True):
            try:
                href = urldefrag(urljoin(base, str(a["href"]).strip()))[0]
            except ValueError:
                continue  # e.g. a malformed IPv6 host
            if not url_origin(href):
                continue  # mailto:, javascript:, a bad port, ...
            if urlsplit(href).path.lower().endswith(_SKIP_EXTENSIONS):
                continue
            if self._allowed(href):
                links.append(href)
        return links

    def _allowed(self, url: str) -> bool:
        return any(p.covers(url) for p in self.allow)

    # --- politeness ------------------------------------------------------------------

    def _wait_turn(self, url: str) -> None:
        origin = url_origin(url)
        last = self.last_request.get(origin)
        if last is None:
            return
        remaining = self._delay(origin) - (time.monotonic() - last)
        if remaining > 0:
            time.sleep(remaining)

    def _delay(self, origin: str) -> float:
        rules = self.robots.get(origin)
        crawl_delay = rules.crawl_delay(USER_AGENT) if rules is not None else None
        return max(self.cfg.delay, min(float(crawl_delay or 0), MAX_CRAWL_DELAY))

    def _robots_allow(self, url: str) -> bool:
        origin = url_origin(url)
        if origin not in self.robots:
            self.robots[origin] = self._read_robots(origin)
        return self.robots[origin].can_fetch(USER_AGENT, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser:
        rules = urllib.robotparser.RobotFileParser(f"{origin}/robots.txt")
        try:
            response = self._get(f"{origin}/robots.txt", html_only=False)
            text = response.text if response is not None else ""
        except Refused as e:
            # RFC 9309 §2.3.1.2: a robots.txt that cannot be reached by redirects is unavailable.
            logger.warning("%s: robots.txt de %s ignorado: %s", self.source.label, origin, e)
            text = ""
        except FetchError as e:
            if e.status is not None and 400 <= e.status < 500:
                text = ""  # RFC 9309 §2.3.1.3: unavailable, so no rules
            else:
                rules.parse(["User-agent: *", "Disallow: /"])  # RFC 9309 §2.3.1.4: unreachable
                return rules
        rules.parse(text.splitlines())
        return rules


def _same_origin_as(url: str) -> UrlCheck:
    site = url_origin(url)
    return lambda hop: None if url_origin(hop) == site else "fora do site"


def _decode(response: httpx.Response, label: str, url: str) -> str:
    """The page's text: its declared charset (header, else markup) unless that gives
    replacement characters or mojibake (ingest.charset); what was done is logged."""
    decoded = decode_page(response.content, response.charset_encoding)
    log_decoding(decoded, f"{label}: página {redact_url(url)}")
    return decoded.text


def _last_modified(response: httpx.Response) -> str | None:
    value = response.headers.get("last-modified")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        return None
