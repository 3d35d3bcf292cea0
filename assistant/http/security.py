"""Access control: API keys, per-client rate limit, CORS, the admin token, trusted proxies,
exposure warning."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
from collections.abc import Callable
from typing import Annotated, NoReturn

from fastapi import Depends, FastAPI, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from assistant.http.errors import ApiError, error_response
from assistant.privacy import mask_for_log
from assistant.ratelimit import SlidingWindowLimiter
from index.settings import Settings

API_KEY_HEADER = "X-API-Key"
CHANNEL_HEADER = "X-BPA-Channel"
CHANNELS = frozenset({"api", "web", "zendesk"})

_api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Uma das chaves de BPA_API_KEYS.")
_bearer_scheme = HTTPBearer(auto_error=False, description="O token de BPA_ADMIN_TOKEN.")


def _matches_any(candidate: str, accepted: list[str]) -> bool:
    # compare_digest on every key: the time taken does not tell which key almost matched.
    found = False
    for key in accepted:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    return found


def client_ip(request: Request) -> str:
    """The client's rate-limit identity by address (the proxy's client only when the proxy is
    trusted: see install_trusted_proxies)."""
    return "ip:" + (request.client.host if request.client else "desconhecido")


def rate_limited(limiter: SlidingWindowLimiter, retry_after: float) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        429,
        "rate_limited",
        f"Limite de {limiter.limit} requisições por minuto atingido. Tente de novo em {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def _refuse_if_spent(limiter: SlidingWindowLimiter, identity: str) -> None:
    # Checked before the secret is: once a client's budget is spent, a right guess is refused
    # like a wrong one, so 429 versus 200 cannot tell the guesser it found the secret.
    retry_after = limiter.retry_after(identity)
    if retry_after is not None:
        raise rate_limited(limiter, retry_after)


def _fail_authentication(limiter: SlidingWindowLimiter, identity: str, error: ApiError) -> NoReturn:
    """Count a failed authentication against the client's rate limit, then refuse it."""
    retry_after = limiter.hit(identity)
    if retry_after is not None:
        raise rate_limited(limiter, retry_after)
    raise error


def make_client_guard(settings: Settings, limiter: SlidingWindowLimiter) -> Callable[..., str]:
    """A dependency for /v1 routes: checks the API key (when keys are set), then the rate limit.

    Returns the client's rate-limit identity: its API key when it sent a valid one, else its IP.
    """
    accepted = list(settings.api_keys)

    def client_identity(request: Request, api_key: str | None) -> str:
        if not accepted:
            return client_ip(request)
        ip = client_ip(request)
        _refuse_if_spent(limiter, ip)
        if not api_key or not _matches_any(api_key, accepted):
            # Failed attempts count too: no key guessing.
            _fail_authentication(
                limiter,
                ip,
                ApiError(401, "unauthorized", f"Chave de API ausente ou inválida: envie o cabeçalho {API_KEY_HEADER}."),
            )
        return "key:" + api_key

    def enforce_rate_limit(identity: str) -> str:
        retry_after = limiter.hit(identity)
        if retry_after is not None:
            raise rate_limited(limiter, retry_after)
        return identity

    if accepted:

        def guard_with_key(request: Request, api_key: Annotated[str | None, Security(_api_key_scheme)] = None) -> str:
            return enforce_rate_limit(client_identity(request, api_key))

        return guard_with_key

    def guard(request: Request) -> str:
        return enforce_rate_limit(client_identity(request, None))

    return guard


def make_admin_guard(settings: Settings, limiter: SlidingWindowLimiter) -> Callable[..., None]:
    """A dependency for /v1/admin routes: ``Authorization: Bearer <admin_token>``.

    Wrong tokens count against the client's rate limit, as wrong API keys do.
    """
    token = settings.admin_token or ""

    def admin_guard(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
    ) -> None:
        ip = client_ip(request)
        _refuse_if_spent(limiter, ip)
        if not token or credentials is None or not _matches_any(credentials.credentials, [token]):
            _fail_authentication(
                limiter,
                ip,
                ApiError(
                    401,
                    "unauthorized",
                    "Token de administração ausente ou inválido: envie Authorization: Bearer <token>.",
                    headers={"WWW-Authenticate": "Bearer"},
                ),
            )

    return admin_guard


def request_channel(request: Request) -> str:
    """Which client asked (web page, Zendesk sidebar, other API callers), for the service's stats."""
    value = request.headers.get(CHANNEL_HEADER, "api").strip().lower()
    return value if value in CHANNELS else "api"


_CORS_FAILURES = {"origin": "origem", "method": "método", "headers": "cabeçalhos", "private-network": "rede privada"}


class _ErrorShapeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the API's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        # Starlette's body is "Disallowed CORS origin, method": name the same failures in pt-BR.
        failed = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
        names = ", ".join(_CORS_FAILURES.get(f, f) for f in failed)
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return error_response(
            400,
            "cors_refused",
            f"Requisição de outra origem recusada pela política de CORS (não permitido: {names}).",
            headers=headers,
        )


def install_cors(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        _ErrorShapeCORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", API_KEY_HEADER, CHANNEL_HEADER, "Authorization"],
        expose_headers=["Retry-After"],
        max_age=600,
    )


def install_trusted_proxies(app: FastAPI, settings: Settings) -> None:
    """Honour X-Forwarded-For/-Proto only from BPA_TRUSTED_PROXIES.

    The server itself never reads those headers (`bpa serve` starts uvicorn with
    proxy_headers=False): otherwise any client could pick its own address, and with it a fresh
    rate-limit bucket per request.
    """
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings, logger: logging.Logger) -> bool:
    """Warn when the server listens beyond this machine with no API key; True if it warned."""
    if is_loopback(settings.host) or settings.api_keys:
        return False
    logger.warning(
        "O bpa vai escutar em %s sem chave de API: qualquer um que alcance esta rede pode usá-lo. "
        "Defina BPA_API_KEYS (lista JSON) ou use BPA_HOST=127.0.0.1.",
        settings.host,
    )
    return True


def _mask_log_arg(value: object) -> object:
    if not isinstance(value, str):
        return value
    return mask_for_log(value, url=value.startswith("/"))


class MaskingFilter(logging.Filter):
    """Mask personal data in a record's string arguments (e.g. the access log's URL).

    It runs inside the server's logging, on the event loop: each argument is capped before
    it is masked (mask_for_log), so a huge URL costs no more than a short one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_log_arg(a) for a in record.args)
        return True


def install_access_log_masking(logger_name: str = "uvicorn.access") -> None:
    """Idempotently mask the server's access log: query strings may carry user text."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, MaskingFilter) for f in target.filters):
        target.addFilter(MaskingFilter())


class _BodyTooLarge(StarletteHTTPException):
    """Raised while reading the body; an HTTPException so the framework answers 413 as usual."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, "payload_too_large", _too_large_message(self.max_bytes))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


def _too_large_message(max_bytes: int) -> str:
    return f"O corpo da requisição passa do limite de {max_bytes // 1024} KiB."
