"""POST /v1/links and /v1/flags: the KCS signals of the Zendesk sidebar, the web page and Slack.

The server only records: whatever goes into a ticket is appended there by the sidebar itself
(ZAF's ticket.comment.appendHtml), nothing is sent to Zendesk from here. Both routes sit
behind the /v1 guard (API key, per-client rate limit), as feedback does, and are idempotent:
a replayed request gets the same answer and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from assistant.http.errors import error_response
from assistant.http.schemas import MAX_ITEM_CHARS, ErrorResponse, StrictRequest, TicketId
from assistant.http.security import request_channel
from assistant.kcs import (
    MAX_FLAG_COMMENT_CHARS,
    TICKET_ID_PATTERN,
    ExcerptMismatch,
    FlagReason,
    FlagReceipt,
    LinkAction,
    LinkReceipt,
    StaleSnapshot,
    UnknownSection,
)
from assistant.protocol import AssistantService

logger = logging.getLogger("bpa.http")

MAX_EXCERPT_CHARS = 8_000
MAX_REQUEST_ID_CHARS = 64


class LinkRequest(StrictRequest):
    ticket_id: TicketId = Field(description="Id do ticket em que o link ou trecho foi inserido.", examples=["12345"])
    chunk_id: str = Field(
        min_length=1, max_length=MAX_ITEM_CHARS, description="Id da seção (chunk_id da sugestão ou citação)."
    )
    snapshot: str = Field(min_length=1, max_length=MAX_ITEM_CHARS, description="Snapshot da sugestão ou resposta.")
    action: LinkAction = Field(description="link: o link da seção; quote: um trecho citado.")
    excerpt: str | None = Field(
        default=None,
        max_length=MAX_EXCERPT_CHARS,
        description="Para quote: o trecho citado, literal da seção (sem ele, o texto da seção).",
    )


class FlagRequest(StrictRequest):
    chunk_id: str = Field(min_length=1, max_length=MAX_ITEM_CHARS, description="Id da seção sinalizada.")
    snapshot: str = Field(min_length=1, max_length=MAX_ITEM_CHARS, description="Snapshot da sugestão ou resposta.")
    reason: FlagReason = Field(description="desatualizado, incorreto, incompleto ou outro.")
    comment: str | None = Field(
        default=None,
        max_length=MAX_FLAG_COMMENT_CHARS,
        description="Texto livre (dados pessoais são mascarados ao gravar).",
    )
    ticket_id: TicketId | None = Field(default=None, description="Ticket de onde veio a sinalização, quando há um.")
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REQUEST_ID_CHARS,
        pattern=TICKET_ID_PATTERN,
        description="Id gerado pelo cliente: a mesma requisição repetida é registrada uma vez.",
    )


def _error(description: str) -> dict[str, object]:
    return {"model": ErrorResponse, "description": description}


KCS_ERRORS: dict[int | str, dict[str, object]] = {
    400: _error("JSON malformado."),
    401: _error("Chave de API ausente ou inválida (quando BPA_API_KEYS está definido)."),
    404: _error("Seção desconhecida no índice servido."),
    409: _error("Snapshot antigo: nem o servido nem um dos guardados. Atualize as sugestões."),
    422: _error("Entrada inválida; a mensagem diz qual campo."),
    429: _error("Limite de requisições por minuto atingido; veja Retry-After."),
    503: _error("Nenhum índice publicado, ou o registro está indisponível."),
}


def build_kcs_router(service: AssistantService, guard: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["kcs"], dependencies=[Depends(guard)])

    @router.post(
        "/links",
        status_code=201,
        response_model=LinkReceipt,
        responses=KCS_ERRORS,
        summary="Registra uma seção linkada ou citada num ticket (app do Zendesk)",
    )
    def link(body: LinkRequest, request: Request) -> LinkReceipt:
        receipt = service.link(
            body.ticket_id, body.chunk_id, body.snapshot, body.action, body.excerpt, channel=request_channel(request)
        )
        logger.info("%s da seção %s no ticket %s", body.action, body.chunk_id, body.ticket_id)
        return receipt

    @router.post(
        "/flags",
        status_code=201,
        response_model=FlagReceipt,
        responses=KCS_ERRORS,
        summary="Sinaliza uma seção desatualizada, incorreta ou incompleta",
    )
    def flag(body: FlagRequest, request: Request) -> FlagReceipt:
        receipt = service.flag(
            body.chunk_id, body.snapshot, body.reason, body.comment, body.ticket_id, body.request_id,
            channel=request_channel(request),
        )  # fmt: skip
        logger.info("seção %s sinalizada: %s", body.chunk_id, body.reason)
        return receipt

    return router


async def _on_unknown_section(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        404, "unknown_section", "Seção não encontrada no índice atual. Atualize as sugestões.", field="chunk_id"
    )


async def _on_stale_snapshot(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        409,
        "stale_snapshot",
        "Estas sugestões vêm de um índice que não está mais disponível. Atualize as sugestões e tente de novo.",
        field="snapshot",
    )


async def _on_excerpt_mismatch(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        422, "excerpt_mismatch", "O trecho enviado não é um trecho literal da seção indicada.", field="excerpt"
    )


def install_kcs_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UnknownSection, _on_unknown_section)
    app.add_exception_handler(StaleSnapshot, _on_stale_snapshot)
    app.add_exception_handler(ExcerptMismatch, _on_excerpt_mismatch)
