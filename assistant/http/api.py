"""The /v1 routes: ask, search, suggest, feedback, documents."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from assistant.http.errors import ApiError
from assistant.http.metrics import Metrics
from assistant.http.schemas import (
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    AskRequest,
    AskResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    SearchResponse,
    SuggestRequest,
    SuggestResponse,
)
from assistant.http.security import request_channel
from assistant.privacy import mask_for_log
from assistant.protocol import AssistantService
from assistant.types import DocumentView
from index.settings import Settings

logger = logging.getLogger("bpa.http")

_LOG_TEXT_CHARS = 200


def _error(description: str) -> dict[str, object]:
    return {"model": ErrorResponse, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, object]] = {
    401: _error("Chave de API ausente ou inválida (quando BPA_API_KEYS está definido)."),
    422: _error("Entrada inválida; a mensagem diz qual campo."),
    429: _error("Limite de requisições por minuto atingido; veja Retry-After."),
    503: _error("Nenhum índice publicado: rode `bpa ingest`."),
}
BODY_ERRORS: dict[int | str, dict[str, object]] = {**COMMON_ERRORS, 400: _error("JSON malformado.")}


def checked_text(text: str, field: str, max_chars: int) -> str:
    """Strip the text; refuse it blank or longer than ``max_chars`` (pt-BR message naming the field)."""
    stripped = text.strip()
    if not stripped:
        raise ApiError(422, "invalid_question", f"O campo '{field}' não pode ficar vazio.", field=field)
    if len(stripped) > max_chars:
        raise ApiError(
            422,
            "question_too_long",
            f"O campo '{field}' tem {len(stripped)} caracteres; o limite é {max_chars}.",
            field=field,
        )
    return stripped


def for_log(text: str) -> str:
    """User text as it may appear in a log line: shortened, then masked."""
    return mask_for_log(text.replace("\n", " "), _LOG_TEXT_CHARS)


def build_api_router(
    settings: Settings, service: AssistantService, metrics: Metrics, guard: Callable[..., str]
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["assistente"], dependencies=[Depends(guard)])
    max_chars = settings.max_question_chars

    @router.post("/ask", response_model=AskResponse, responses=BODY_ERRORS, summary="Pergunta à documentação")
    def ask(body: AskRequest, request: Request) -> AskResponse:
        question = checked_text(body.question, "question", max_chars)
        channel = request_channel(request)
        logger.info("pergunta (canal=%s, top_k=%d): %s", channel, body.top_k, for_log(question))
        answer = service.ask(question, top_k=body.top_k, sources=body.sources, channel=channel)
        metrics.observe_answer(answer.abstained)
        return AskResponse.model_validate(answer.model_dump(exclude={"question"}))

    @router.get("/search", response_model=SearchResponse, responses=COMMON_ERRORS, summary="Busca trechos")
    def search(
        q: Annotated[str, Query(description="Texto da busca.")],
        k: Annotated[int, Query(ge=1, le=20, description="Quantos trechos devolver.")] = 5,
        sources: Annotated[
            list[str] | None, Query(max_length=MAX_LIST_ITEMS, description="Restringe às fontes dadas.")
        ] = None,
    ) -> SearchResponse:
        query = checked_text(q, "q", max_chars)
        logger.info("busca (k=%d): %s", k, for_log(query))
        return SearchResponse(results=service.search(query, k=k, sources=sources))

    @router.post(
        "/suggest",
        response_model=SuggestResponse,
        responses=BODY_ERRORS,
        summary="Práticas aplicáveis a um ticket (app do Zendesk)",
    )
    def suggest(body: SuggestRequest) -> SuggestResponse:
        if not body.subject.strip() and not body.description.strip():
            raise ApiError(
                422,
                "invalid_ticket",
                "Informe o assunto ('subject') ou a descrição ('description') do ticket.",
                field="subject",
            )
        logger.info("sugestão para ticket: %s", for_log(body.subject))
        suggestion = service.suggest(body.subject, body.description, list(body.tags))
        return SuggestResponse(results=suggestion.results, checklist=suggestion.checklist)

    @router.post(
        "/feedback",
        status_code=201,
        response_model=FeedbackResponse,
        responses={
            **BODY_ERRORS,
            404: _error("answer_id desconhecido."),
            503: _error("Nenhum índice publicado, ou o registro de avaliações está indisponível."),
        },
        summary="Registra 👍/👎 sobre uma resposta",
    )
    def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
        channel = request_channel(request)
        service.feedback(body.answer_id, body.helpful, body.comment, channel=channel)
        logger.info(
            "feedback (canal=%s) para %s: %s", channel, body.answer_id, "útil" if body.helpful else "não útil"
        )
        return FeedbackResponse(answer_id=body.answer_id)

    @router.get(
        "/documents/{document_id}",
        response_model=DocumentView,
        responses={**COMMON_ERRORS, 404: _error("Documento desconhecido.")},
        summary="Um documento e suas seções",
    )
    def document(document_id: Annotated[str, Path(max_length=MAX_ITEM_CHARS)]) -> DocumentView:
        return service.document(document_id)

    return router
