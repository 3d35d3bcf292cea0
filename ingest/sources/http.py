"""Robust HTTP fetching for the remote sources (Confluence, Zendesk, web).

One :class:`Fetcher` per source run: a sync ``httpx.Client`` with bpa's User-Agent and
auth header, a timeout, retries with exponential backoff on 429/5xx/timeouts/connection
errors (honouring ``Retry-After``), and a small bounded thread pool for concurrent
requests. Failures become :class:`FetchError`, which carries the status and the URL.

Redirects are followed by hand, at most ``MAX_REDIRECTS`` hops, and every hop is checked
*before* it is requested: never a scheme other than http(s); never off ``origin`` when the
Fetcher is bound to one (credentials can only be sent there: a Fetcher with ``auth`` must
be bound); and the caller's ``check`` (the crawler's allow-list) must accept it. A refused
URL raises :class:`Refused`, naming it by :func:`redact_url` (no query string: what a
remote server puts in a URL is untrusted and may carry personal data).
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from index.errors import BpaError
from index.settings import Settings
from ingest.sources.base import SourceError
from ingest.sources.limits import ACCEPT_ENCODING, OverLimit, PageLimits, read_limited

USER_AGENT = "bpa/0.1"
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer fails this run instead
MAX_REDIRECTS = 5  # hops per request (RFC 9309 asks crawlers to follow at least five)
_SCHEMES = ("http", "https")
_RETRYABLE_STATUS = frozenset({408, 425, 429})

T = TypeVar("T")
R = TypeVar("R")


class FetchError(BpaError):
    """A request failed for good (after retries where retrying made sense)."""

    def __init__(self, reason: str, *, url: str, status: int | None = None) -> None:
        super().__init__(f"{reason} ({url})")
        self.reason = reason  # pt-BR, without the URL
        self.url = url
        self.status = status

    @property
    def auth_failed(self) -> bool:
        return self.status in (401, 403)


class MalformedResponse(FetchError):
    """The server answered 2xx but the payload is not what the protocol promises."""


class Refused(FetchError):
    """A URL this source may not request: another origin, off the allow-list, not http(s).

    ``url`` is already redacted (:func:`redact_url`): it came from a remote server.
    """

    def __init__(self, reason: str, *, url: str) -> None:
        super().__init__(reason, url=redact_url(url))


UrlCheck = Callable[[str], str | None]
"""A policy for redirect hops: None accepts the URL, else the pt-BR reason to refuse it."""


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` in comparable form (lower case, no default port); "" if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _SCHEMES or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    default = port is None or (scheme, port) in (("http", 80), ("https", 443))
    return f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"


def is_web_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host (what may become a link)."""
    return bool(url_origin(url))


def redact_url(url: str) -> str:
    """``url`` fit for messages and logs: no user info, query string or fragment.

    A URL handed to us by a remote server (a redirect, a pagination link) can carry
    anything in its query; the origin and path are enough to say which one it was.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "(URL inválida)"
    site = url_origin(url)
    if not site:
        scheme = parts.scheme.lower()
        return f"{scheme}:…" if scheme else "(URL sem esquema http/https)"
    return site + (parts.path or "/") + ("?…" if parts.query else "")


def basic_auth(credentials: str) -> str:
    """``Authorization`` value for ``user:secret`` (Confluence Cloud, Zendesk)."""
    return "Basic " + base64.b64encode(credentials.encode()).decode("ascii")


def bearer_auth(token: str) -> str:
    """``Authorization`` value for a personal access token (Confluence Server/DC)."""
    return f"Bearer {token}"


def read_secret(env_var: str | None, source_label: str) -> str | None:
    """The credential held by ``env_var``; None when the source is configured anonymous."""
    if not env_var:
        return None
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise SourceError(f"{source_label}: a variável de ambiente {env_var} (token_env) não está definida")
    return value


def authorization(env_var: str | None, source_label: str) -> str | None:
    """The Authorization header for an API source's token: "email:token" or "email/token:secret"
    is Basic (Confluence Cloud, Zendesk), anything else a Bearer token (Confluence PAT)."""
    token = read_secret(env_var, source_label)
    if token is None:
        return None
    return basic_auth(token) if ":" in token else bearer_auth(token)


def listing_error(source_label: str, env_var: str | None, e: FetchError, items: str) -> str:
    """The pt-BR message for a listing that failed; ``items``: what was being listed."""
    if e.auth_failed:
        hint = f"verifique o token em {env_var}" if env_var else "defina token_env"
        return f"{source_label}: acesso negado (HTTP {e.status}) ao listar {items}; {hint}"
    return f"{source_label}: não foi possível listar {items} até o fim: {e}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (delta seconds or an HTTP date); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _decoded(response: httpx.Response, body: bytes) -> httpx.Response:
    """``response`` with its body read and decoded (no Content-Encoding left to apply)."""
    skip = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    headers.append(("content-length", str(len(body))))
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request)


def _is_retryable(status: int) -> bool:
    return status >= 500 or status in _RETRYABLE_STATUS


@dataclass(frozen=True)
class _Retryable:
    failure: FetchError
    retry_after: float | None = None

    def final(self, attempts: int) -> FetchError:
        if attempts <= 1:
            return self.failure
        reason = f"{self.failure.reason} após {attempts} tentativas"
        return FetchError(reason, url=self.failure.url, status=self.failure.status)


class Fetcher:
    """GET with timeouts, retries and auth; ``map`` runs calls concurrently (bounded)."""

    def __init__(
        self,
        settings: Settings,
        *,
        auth: str | None = None,
        origin: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = MAX_RETRY_AFTER,
        limits: PageLimits | None = None,
    ) -> None:
        """``origin``: every request and redirect hop must stay on it (required with ``auth``).
        ``limits``: what one download may cost (default: the settings')."""
        if auth and not origin:
            raise ValueError("a Fetcher with credentials must be bound to the origin they belong to")
        self.origin = url_origin(origin) if origin else None
        self.timeout = settings.http_timeout
        self.retries = settings.http_retries
        self.backoff = settings.http_backoff
        self.concurrency = settings.http_concurrency
        self.max_retry_after = max_retry_after
        self.limits = limits or PageLimits.of(settings)
        self._sleep = sleep
        # Only encodings read_limited inflates in bounded pieces are asked for.
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
        if auth:
            headers["Authorization"] = auth
        # Redirects are followed in _send, so that each hop is checked before it is requested.
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            headers=headers,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- requests --------------------------------------------------------------------

    def get(self, url: str, params: dict[str, Any] | None = None, *, check: UrlCheck | None = None) -> httpx.Response:
        """GET ``url``; a 2xx/3xx response, or FetchError once retries are exhausted.

        ``check`` vets every redirect hop on top of the Fetcher's own rules.
        """
        response = self._with_retries(url, params, None, check)
        assert response is not None  # without ``accept`` every response is kept
        return response

    def get_if(
        self, url: str, accept: Callable[[httpx.Response], bool], *, check: UrlCheck | None = None
    ) -> httpx.Response | None:
        """GET ``url`` but read the body only if ``accept(headers-only response)``; else None."""
        return self._with_retries(url, None, accept, check)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET and decode JSON; MalformedResponse when the body is not JSON."""
        response = self.get(url, params)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MalformedResponse(
                "resposta não é JSON válido", url=str(response.url), status=response.status_code
            ) from e

    def _with_retries(
        self,
        url: str,
        params: dict[str, Any] | None,
        accept: Callable[[httpx.Response], bool] | None,
        check: UrlCheck | None,
    ) -> httpx.Response | None:
        attempt = 0
        while True:
            outcome = self._attempt(url, params, accept, check)
            if not isinstance(outcome, _Retryable):
                return outcome
            if attempt >= self.retries:
                raise outcome.final(attempt + 1)
            self._sleep(self._delay(attempt, outcome.retry_after))
            attempt += 1

    def _attempt(
        self,
        url: str,
        params: dict[str, Any] | None,
        accept: Callable[[httpx.Response], bool] | None,
        check: UrlCheck | None,
    ) -> httpx.Response | _Retryable | None:
        """One request: its response, a failure worth retrying, or FetchError for good.

        A download over a limit (deadline, decoded size) fails for good: retrying a page
        that trickles or inflates without end would only multiply the cost."""
        deadline_at = time.monotonic() + self.limits.deadline
        try:
            response = self._send(url, params, accept, check, deadline_at)
        except OverLimit as e:
            raise FetchError(e.reason, url=url) from e
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            # A wait cut short by the deadline (its timeout was capped by it) is the deadline.
            if time.monotonic() < deadline_at - 0.05:
                return self._transport_failure(url, e)
            raise FetchError(f"download passou do prazo de {self.limits.deadline:g} s", url=url) from e
        if response is None or response.status_code < 400:
            return response
        status = response.status_code
        # Named by the URL asked for: a redirect's target is the remote server's choice.
        failure = FetchError(f"HTTP {status}", url=url, status=status)
        if not _is_retryable(status):
            raise failure
        return _Retryable(failure, retry_after_seconds(response.headers.get("Retry-After")))

    def _transport_failure(self, url: str, e: httpx.HTTPError | httpx.InvalidURL) -> _Retryable:
        """What a transport error means: a failure worth retrying, or FetchError for good."""
        if isinstance(e, httpx.TimeoutException):
            return _Retryable(FetchError(f"tempo esgotado ({self.timeout:g} s)", url=url))
        if isinstance(e, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            raise FetchError(f"URL inválida: {e}", url=url) from e
        if isinstance(e, httpx.DecodingError):
            raise FetchError(f"resposta com codificação inválida: {e}", url=url) from e
        if isinstance(e, httpx.TransportError):
            return _Retryable(FetchError(f"falha de conexão: {e or type(e).__name__}", url=url))
        raise FetchError(f"falha na requisição: {e or type(e).__name__}", url=url) from e

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return float(self.backoff * 2**attempt)

    def _send(
        self,
        url: str,
        params: dict[str, Any] | None,
        accept: Callable[[httpx.Response], bool] | None,
        check: UrlCheck | None,
        deadline_at: float,
    ) -> httpx.Response | None:
        reason = self._refusal(url)
        if reason is not None:
            raise Refused(reason, url=url)
        request = self._client.build_request("GET", url, params=params)
        for _ in range(MAX_REDIRECTS + 1):
            # No wait (connect, headers, a read) may outlast the download's deadline.
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise OverLimit(f"download passou do prazo de {self.limits.deadline:g} s")
            request.extensions["timeout"] = httpx.Timeout(min(self.timeout, remaining)).as_dict()
            try:
                response = self._client.send(request, stream=True)
            except httpx.InvalidURL as e:  # httpx could not even build the redirect's URL
                raise Refused("redireciona para uma URL inválida ou que não é http(s)", url=str(request.url)) from e
            try:
                if response.next_request is not None:  # a redirect: vet the hop, then take it
                    request = response.next_request
                    hop = str(request.url)
                    reason = self._refusal(hop) or (check(hop) if check is not None else None)
                    if reason is not None:
                        raise Refused(f"redirecionamento recusado: {reason}", url=hop)
                    continue
                if accept is not None and response.status_code < 400 and not accept(response):
                    return None
                return _decoded(response, read_limited(response, self.limits, deadline_at))
            finally:
                response.close()
        raise FetchError(f"redirecionamentos demais (mais de {MAX_REDIRECTS})", url=url)

    def _refusal(self, url: str) -> str | None:
        """Why the Fetcher's own rules forbid requesting ``url`` (None: they don't)."""
        if not is_web_url(url):
            return "só URLs http e https são acessadas"
        if self.origin is None:
            return None
        if not self.origin:
            return "a base_url configurada não é uma URL http(s) válida"
        if url_origin(url) != self.origin:
            # Credentials and API traffic never leave the configured origin.
            return f"fora da origem configurada ({self.origin})"
        return None

    # --- concurrency -----------------------------------------------------------------

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items`` with at most ``concurrency`` calls at once, results in order.

        Lazy: at most a small window of results is held, so a long listing streams.
        """
        if self.concurrency <= 1:
            yield from map(fn, items)
            return
        window = self.concurrency * 2
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bpa-fetch") as pool:
            pending: deque[Future[R]] = deque()
            try:
                for item in items:
                    pending.append(pool.submit(fn, item))
                    if len(pending) >= window:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
