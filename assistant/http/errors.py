"""Every error the API answers is {"error": {"code", "message"[, "field"]}} with pt-BR text.

This module owns the translation of framework and domain exceptions into that shape.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import (
    NO_INDEX_MESSAGE,
    STATE_UNAVAILABLE_MESSAGE,
    InvalidQuestion,
    NoSnapshotError,
    StateUnavailable,
    UnknownAnswer,
    UnknownDocument,
)
from assistant.privacy import mask_for_log, mask_pii

logger = logging.getLogger("bpa.http")

GENERIC_ERROR_MESSAGE = "Erro interno inesperado. Tente novamente; se persistir, avise a equipe do bpa."


class ApiError(Exception):
    """An error answered as-is: status, stable code, pt-BR message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status, headers=dict(headers or {}))


# --- request validation ---------------------------------------------------------------

_BODY_MISSING = "O corpo da requisição é obrigatório e deve ser um objeto JSON."
_BODY_NOT_OBJECT = "O corpo da requisição deve ser um objeto JSON (Content-Type: application/json)."

_MESSAGES: dict[str, str] = {
    "missing": "O campo '{field}' é obrigatório.",
    "extra_forbidden": "O campo '{field}' não é aceito por esta rota.",
    "string_type": "O campo '{field}' deve ser um texto.",
    "int_type": "O campo '{field}' deve ser um número inteiro.",
    "int_parsing": "O campo '{field}' deve ser um número inteiro.",
    "int_from_float": "O campo '{field}' deve ser um número inteiro.",
    "bool_type": "O campo '{field}' deve ser true ou false.",
    "bool_parsing": "O campo '{field}' deve ser true ou false.",
    "list_type": "O campo '{field}' deve ser uma lista.",
    "greater_than_equal": "O campo '{field}' deve ser no mínimo {ge}.",
    "less_than_equal": "O campo '{field}' deve ser no máximo {le}.",
    "string_too_short": "O campo '{field}' não pode ficar vazio.",
    "string_pattern_mismatch": "O campo '{field}' tem um valor em formato inválido.",
    "string_too_long": "O campo '{field}' aceita no máximo {max_length} caracteres.",
    "too_long": "O campo '{field}' aceita no máximo {max_length} itens.",
    "literal_error": "O campo '{field}' deve ser um destes valores: {expected}.",
}
_NOT_OBJECT_TYPES = {"model_attributes_type", "dict_type", "model_type"}

# The question fields keep the codes clients know (docs/http-api.md): a blank or wordless question is
# invalid_question, a long one question_too_long.
_QUESTION_FIELDS = {"question", "q"}
_QUESTION_ERRORS: dict[str, tuple[str, str]] = {
    "string_too_short": ("invalid_question", "O campo '{field}' não pode ficar vazio."),
    "string_pattern_mismatch": (
        "invalid_question",
        "O campo '{field}' precisa de ao menos uma palavra (não pode ficar vazio nem ter só números ou símbolos).",
    ),
    "string_too_long": ("question_too_long", "O campo '{field}' tem {length} caracteres; o limite é {max_length}."),
}
# Errors a request model raises itself (PydanticCustomError): the type is the API error code,
# mapped to the field the client should fix.
_MODEL_ERRORS = {"invalid_ticket": "subject"}
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def field_name(loc: Sequence[Any]) -> str | None:
    """('body', 'tags', 0) -> 'tags[0]'; None when the error is about the whole body."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def describe_validation_error(error: Mapping[str, Any]) -> tuple[str, str | None]:
    """One pydantic/FastAPI error -> (pt-BR message, field)."""
    kind = str(error.get("type", ""))
    field = field_name(error.get("loc", ()))
    if field is None and kind == "missing":
        return _BODY_MISSING, None
    if field is None and kind in _NOT_OBJECT_TYPES:
        return _BODY_NOT_OBJECT, None
    if kind in _NOT_OBJECT_TYPES:
        return f"O campo '{field}' deve ser um objeto JSON.", field
    template = _MESSAGES.get(kind, "O campo '{field}' tem um valor inválido.")
    context = {key: value for key, value in (error.get("ctx") or {}).items() if isinstance(key, str)}
    if isinstance(context.get("expected"), str):  # pydantic's "'a', 'b' or 'c'"
        context["expected"] = context["expected"].replace(" or ", " ou ")
    try:
        return template.format(field=field, **context), field
    except (KeyError, IndexError):
        return f"O campo '{field}' tem um valor inválido.", field


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    json_error = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if json_error is not None:
        position = json_error.get("loc", ("body", "?"))[-1]
        return error_response(
            400, "malformed_json", f"O corpo da requisição não é um JSON válido (erro na posição {position})."
        )
    first = errors[0] if errors else {}
    kind = str(first.get("type", ""))
    if kind in _MODEL_ERRORS:
        return error_response(422, kind, str(first.get("msg", "")), field=_MODEL_ERRORS[kind])
    field = field_name(first.get("loc", ()))
    if field in _QUESTION_FIELDS and kind in _QUESTION_ERRORS:
        code, template = _QUESTION_ERRORS[kind]
        value = first.get("input")
        length = len(value) if isinstance(value, str) else 0
        limit = (first.get("ctx") or {}).get("max_length", "")
        return error_response(422, code, template.format(field=field, length=length, max_length=limit), field=field)
    described = [describe_validation_error(e) for e in errors] or [("Requisição inválida.", None)]
    message = " ".join(dict.fromkeys(text for text, _ in described[:3]))
    return error_response(422, "invalid_request", message, field=described[0][1])


# --- handlers -------------------------------------------------------------------------

_HTTP_MESSAGES = {
    400: ("bad_request", "Requisição inválida."),
    401: ("unauthorized", "Não autorizado."),
    403: ("forbidden", "Acesso negado."),
    404: ("not_found", "Recurso não encontrado."),
    405: ("method_not_allowed", "Método HTTP não permitido nesta rota."),
    413: ("payload_too_large", "O corpo da requisição é grande demais."),
}


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _HTTP_MESSAGES.get(exc.status_code, ("http_error", "Erro na requisição."))
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_invalid_question(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidQuestion)
    return error_response(422, "invalid_question", exc.message, field=exc.field)


async def _on_no_snapshot(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("requisição em %s sem índice publicado", mask_for_log(request.url.path))
    return error_response(503, "no_snapshot", NO_INDEX_MESSAGE, headers={"Retry-After": "30"})


async def _on_state_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Already logged (masked) and counted where it happened.
    return error_response(503, "state_unavailable", STATE_UNAVAILABLE_MESSAGE, headers={"Retry-After": "60"})


async def _on_unknown_answer(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        404,
        "unknown_answer",
        "Resposta não encontrada: o answer_id informado não foi emitido por este serviço.",
        field="answer_id",
    )


async def _on_unknown_document(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "unknown_document", "Documento não encontrado no índice atual.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(InvalidQuestion, _on_invalid_question)
    app.add_exception_handler(NoSnapshotError, _on_no_snapshot)
    app.add_exception_handler(StateUnavailable, _on_state_unavailable)
    app.add_exception_handler(UnknownAnswer, _on_unknown_answer)
    app.add_exception_handler(UnknownDocument, _on_unknown_document)


def _log_unexpected(method: object, path: str, trace: str) -> None:
    logger.error("erro inesperado em %s %s\n%s", method, mask_for_log(path), mask_pii(trace))


class UnexpectedErrorMiddleware:
    """Answer any unhandled exception with a generic 500 in the error shape.

    The traceback is logged masked (it may quote user text) and the exception is not
    re-raised, so no server layer logs it again unmasked.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Mapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            # Masking a traceback (it may quote a whole request) is CPU work: not on the event loop.
            trace = traceback.format_exc()
            await run_in_threadpool(_log_unexpected, scope.get("method"), scope.get("path", ""), trace)
            if not started:
                response = error_response(500, "internal_error", GENERIC_ERROR_MESSAGE)
                await response(scope, receive, send)
