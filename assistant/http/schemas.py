"""Request and response bodies of the HTTP API (all visible in /docs).

Requests are strict (no type coercion) and refuse unknown fields; responses reuse the
assistant's own types so the API cannot drift from what the service returns. Every rule on
a request is a pydantic constraint: the same declaration writes the OpenAPI schema and
enforces it, so a request the schema allows is never refused for its form.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from assistant.kcs import MAX_TICKET_ID_CHARS, TICKET_ID_PATTERN
from assistant.suggest import MAX_DESCRIPTION_CHARS
from assistant.types import WORD_PATTERN, AnswerLine, Citation, ConfidenceLabel, Outcome, SearchHit

MAX_SUBJECT_CHARS = 1_000
MAX_COMMENT_CHARS = 2_000
MAX_LIST_ITEMS = 50
MAX_ITEM_CHARS = 200


DEFAULT_MAX_QUESTION_CHARS = 2_000

# "Has at least one word": a letter (Python's \w minus digits and "_"), the engine's own test
# for a question. Python's semantics are the ones enforced (regex_engine="python-re").
HAS_WORD = WORD_PATTERN

ShortText = Annotated[str, Field(max_length=MAX_ITEM_CHARS)]
# A ticket's id as the desk gives it (Zendesk: a number, sent as text).
TicketId = Annotated[str, Field(min_length=1, max_length=MAX_TICKET_ID_CHARS, pattern=TICKET_ID_PATTERN)]


def _integral_float_to_int(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's "integer" is any number without a fraction, 5.0 included: accept what the
# schema says while staying strict about strings and booleans.
JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


class QueryParams(BaseModel):
    """Query parameters: strings on the wire (so not strict), same regex semantics as bodies."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


def question_field(max_chars: int, description: str, **extra: Any) -> Any:
    """The one definition of a valid question: non-empty, at most ``max_chars``, with a word."""
    return Field(min_length=1, max_length=max_chars, pattern=HAS_WORD, description=description, **extra)


QUESTION_DESCRIPTION = (
    "Pergunta em português: ao menos uma palavra (não pode ser vazia nem só espaços, números ou "
    "símbolos) e no máximo max_question_chars caracteres."
)


class AskRequest(StrictRequest):
    """/v1/ask's body with the default question limit; the router narrows ``question`` to the
    configured max_question_chars (see api.build_api_router)."""

    question: str = question_field(
        DEFAULT_MAX_QUESTION_CHARS, QUESTION_DESCRIPTION, examples=["Cliente parado, o que faço?"]
    )
    top_k: JsonInt = Field(default=5, ge=1, le=20, description="Quantos trechos citar, no máximo.")
    sources: list[ShortText] | None = Field(
        default=None,
        max_length=MAX_LIST_ITEMS,
        description="Restringe a busca a estas fontes (ids do sources.toml); null busca em todas.",
    )


class AskResponse(BaseModel):
    answer_id: str = Field(description="Id a usar em /v1/feedback.")
    answer: str = Field(description="Resposta em pt-BR; cada frase é um trecho citado terminado em [n].")
    abstained: bool = Field(description="True quando a documentação não responde com confiança.")
    confidence: float = Field(ge=0.0, le=1.0, description="Probabilidade calibrada de a resposta estar certa.")
    citations: list[Citation]
    suggestions: list[Citation] = Field(description="Seções mais próximas, oferecidas ao se abster.")
    outcome: Outcome = Field(
        description="answer: trechos que respondem; pointer: a documentação não responde diretamente, "
        "as seções mais próximas (suggestions) são um ponto de partida; refusal: nada relevante."
    )
    confidence_label: ConfidenceLabel = Field(description="Confiança em palavras: alta, média ou baixa.")
    lines: list[AnswerLine] = Field(description="As linhas da resposta, na ordem: texto e número da citação.")
    snapshot: str = Field(description="Snapshot do índice que respondeu.")
    latency_ms: float


class SearchResponse(BaseModel):
    results: list[SearchHit]


# A ticket needs a word in one of these fields; the schema says it with anyOf.
_TICKET_TEXT_FIELDS = ("subject", "description")
_HAS_WORD = re.compile(HAS_WORD)


def _ticket_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"pattern": HAS_WORD}}} for name in _TICKET_TEXT_FIELDS
    ]


class SuggestRequest(StrictRequest):
    """A ticket: a word in the subject or in the description (either may be empty)."""

    model_config = ConfigDict(json_schema_extra=_ticket_schema)

    subject: str = Field(default="", max_length=MAX_SUBJECT_CHARS, description="Assunto do ticket.")
    description: str = Field(
        default="", max_length=MAX_DESCRIPTION_CHARS, description="Descrição (primeiro comentário) do ticket."
    )
    tags: list[ShortText] = Field(default_factory=list, max_length=MAX_LIST_ITEMS, description="Tags do ticket.")
    ticket_id: TicketId | None = Field(
        default=None,
        description="Id do ticket (app do Zendesk): registra que o app foi aberto nele, para a taxa de links.",
    )

    @model_validator(mode="after")
    def _has_text(self) -> SuggestRequest:
        if not any(_HAS_WORD.search(getattr(self, name)) for name in _TICKET_TEXT_FIELDS):
            # The error's type is the API error code (errors.validation_error_response).
            raise PydanticCustomError(
                "invalid_ticket",
                "Informe o assunto ('subject') ou a descrição ('description') do ticket, com ao menos uma palavra.",
            )
        return self


class SuggestResponse(BaseModel):
    results: list[SearchHit]
    snapshot: str = Field(default="", description="Snapshot das sugestões (a informar em /v1/links e /v1/flags).")
    checklist: list[str] = Field(description="Itens de revisão do ticket que se aplicam.")


class FeedbackRequest(StrictRequest):
    answer_id: str = Field(min_length=1, max_length=MAX_ITEM_CHARS)
    helpful: bool = Field(description="true para 👍, false para 👎.")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class FeedbackResponse(BaseModel):
    answer_id: str
    recorded: bool = True


class ErrorDetail(BaseModel):
    code: str = Field(description="Código estável do erro, em inglês (ex.: invalid_question).")
    message: str = Field(description="Mensagem em pt-BR, para mostrar ao analista.")
    field: str | None = Field(default=None, description="Campo da requisição que causou o erro, quando há um.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    status: Literal["ready"] = "ready"
    snapshot: str
    state: Literal["ok", "degraded"] = Field(
        default="ok",
        description="degraded: perguntas e avaliações não estão sendo registradas (diretório de dados "
        "somente leitura ou cheio); as respostas continuam, /v1/feedback responde 503.",
    )
    last_reindex: ReindexStatus | None = Field(
        default=None,
        description="A última reindexação terminada (agendada ou pela API admin) desde o início; null: nenhuma.",
    )


class ReindexAccepted(BaseModel):
    job_id: str


class ReindexStatus(BaseModel):
    job_id: str
    status: Literal["running", "succeeded", "failed"]
    started_at: str = Field(description="ISO 8601, UTC.")
    finished_at: str | None = Field(default=None, description="ISO 8601, UTC; null enquanto roda.")
    summary: str | None = Field(default=None, description="Últimas linhas da saída de `bpa ingest`.")
    exit_code: int | None = None
