"""Request and response bodies of the HTTP API (all visible in /docs).

Requests are strict (no type coercion) and refuse unknown fields; responses reuse the
assistant's own types so the API cannot drift from what the service returns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.types import AnswerLine, Citation, ConfidenceLabel, Outcome, SearchHit

MAX_DESCRIPTION_CHARS = 20_000
MAX_SUBJECT_CHARS = 1_000
MAX_COMMENT_CHARS = 2_000
MAX_LIST_ITEMS = 50
MAX_ITEM_CHARS = 200


ShortText = Annotated[str, Field(max_length=MAX_ITEM_CHARS)]


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AskRequest(StrictRequest):
    question: str = Field(
        description="Pergunta em português; não pode ser vazia nem passar do limite configurado "
        "(max_question_chars, 2000 por padrão).",
        examples=["Cliente parado, o que faço?"],
    )
    top_k: int = Field(default=5, ge=1, le=20, description="Quantos trechos citar, no máximo.")
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


class SuggestRequest(StrictRequest):
    subject: str = Field(default="", max_length=MAX_SUBJECT_CHARS, description="Assunto do ticket.")
    description: str = Field(
        default="", max_length=MAX_DESCRIPTION_CHARS, description="Descrição (primeiro comentário) do ticket."
    )
    tags: list[ShortText] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Tags do ticket."
    )


class SuggestResponse(BaseModel):
    results: list[SearchHit]
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
    field: str | None = Field(
        default=None, description="Campo da requisição que causou o erro, quando há um."
    )


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


class ReindexAccepted(BaseModel):
    job_id: str


class ReindexStatus(BaseModel):
    job_id: str
    status: Literal["running", "succeeded", "failed"]
    started_at: str = Field(description="ISO 8601, UTC.")
    finished_at: str | None = Field(default=None, description="ISO 8601, UTC; null enquanto roda.")
    summary: str | None = Field(default=None, description="Últimas linhas da saída de `bpa ingest`.")
    exit_code: int | None = None
