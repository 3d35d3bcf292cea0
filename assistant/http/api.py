"""The /v1 routes: ask, search, suggest, feedback, documents.

No ``from __future__ import annotations`` here: the request models that carry the configured
question limit are classes built per app, and FastAPI must see them as objects.
"""

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from assistant.http import schemas
from assistant.http.metrics import Metrics
from assistant.http.schemas import (
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    QUESTION_DESCRIPTION,
    AskResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    QueryParams,
    SearchResponse,
    ShortText,
    SuggestRequest,
    SuggestResponse,
    question_field,
)
from assistant.http.security import request_channel
from assistant.privacy import mask_for_log
from assistant.protocol import AssistantService
from assistant.types import Ask, DocumentView
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


def for_log(text: str) -> str:
    """User text as it may appear in a log line: shortened, then masked."""
    return mask_for_log(text.replace("\n", " "), _LOG_TEXT_CHARS)


def build_api_router(
    settings: Settings, service: AssistantService, metrics: Metrics, guard: Callable[..., str]
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["assistente"], dependencies=[Depends(guard)])
    max_chars = settings.max_question_chars

    # The question's limit is a setting, so the models that state it are made per app.
    class AskRequest(schemas.AskRequest):
        question: str = question_field(max_chars, QUESTION_DESCRIPTION, examples=["Cliente parado, o que faço?"])

    class SearchParams(QueryParams):
        q: str = question_field(max_chars, "Texto da busca (mesmas regras de 'question').")
        k: int = Field(default=5, ge=1, le=20, description="Quantos trechos devolver.")
        # No null variant: a query string cannot say null, and a schema that allows it made
        # clients (and the fuzzer) believe any scalar is a valid "sources".
        sources: list[ShortText] = Field(
            default_factory=list, max_length=MAX_LIST_ITEMS, description="Restringe às fontes dadas (repetível)."
        )

    @router.post("/ask", response_model=AskResponse, responses=BODY_ERRORS, summary="Pergunta à documentação")
    def ask(body: AskRequest, request: Request) -> AskResponse:
        question = body.question.strip()
        channel = request_channel(request)
        logger.info("pergunta (canal=%s, top_k=%d): %s", channel, body.top_k, for_log(question))
        answer = service.ask(Ask(question, top_k=body.top_k, sources=body.sources, channel=channel))
        metrics.observe_answer(answer.abstained)
        return AskResponse.model_validate(answer.model_dump(exclude={"question"}))

    @router.get("/search", response_model=SearchResponse, responses=COMMON_ERRORS, summary="Busca trechos")
    def search(params: Annotated[SearchParams, Query()]) -> SearchResponse:
        query = params.q.strip()
        logger.info("busca (k=%d): %s", params.k, for_log(query))
        return SearchResponse(results=service.search(query, k=params.k, sources=params.sources or None))

    @router.post(
        "/suggest",
        response_model=SuggestResponse,
        responses=BODY_ERRORS,
        summary="Práticas aplicáveis a um ticket (app do Zendesk)",
    )
    def suggest(body: SuggestRequest, request: Request) -> SuggestResponse:
        logger.info("sugestão para ticket: %s", for_log(body.subject))
        suggestion = service.suggest(body.subject, body.description, list(body.tags))
        snapshot = suggestion.snapshot or service.snapshot_id or ""
        if body.ticket_id is not None:  # the sidebar opened on a ticket: the link rate's denominator
            chunk_ids = [h.chunk_id for h in suggestion.results]
            service.ticket_opened(body.ticket_id, snapshot, chunk_ids, channel=request_channel(request))
        return SuggestResponse(results=suggestion.results, checklist=suggestion.checklist, snapshot=snapshot)

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
        logger.info("feedback (canal=%s) para %s: %s", channel, body.answer_id, "útil" if body.helpful else "não útil")
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
