"""Typed results of the assistant's public interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

# What kind of reply an Answer is. "answer": cited excerpts that answer the question.
# "pointer": the documentation does not answer it directly, but the nearest sections are on
# its topic (shown as a pointer, never as an answer). "refusal": nothing relevant.
Outcome = Literal["answer", "pointer", "refusal"]
# A question (or ticket text) must hold at least one letter: the one definition shared by the
# HTTP schema (so clients can read it) and the engine (so every other edge gets the same rule).
WORD_PATTERN = r"[^\W\d_]"
ConfidenceLabel = Literal["alta", "média", "baixa"]


@dataclass(frozen=True)
class Ask:
    """One question as an edge hands it to the service (the one request value of ``ask``)."""

    question: str
    top_k: int | None = None  # passages retrieved; None: the deployment's default
    sources: Sequence[str] | None = None  # only these sources; None: all
    context: str | None = None  # an earlier question of the same thread
    channel: str = "api"  # where it was asked (api, slack, sidebar, cli), for the questions log


def confidence_label(probability: float) -> ConfidenceLabel:
    """The word analysts see instead of a percentage (the number is a calibrated probability)."""
    if probability >= 0.75:
        return "alta"
    if probability >= 0.5:
        return "média"
    return "baixa"


class SectionLink(BaseModel):
    """Another place holding the same text as a citation (a copy in another document)."""

    title: str = Field(description="Document title.")
    section: str = Field(description="Section path, 'A › B › C'.")
    url: str = Field(description="Deep link to the section.")
    document_id: str
    chunk_id: str


class Citation(BaseModel):
    n: int = Field(description="Marker number used in the answer text as [n].")
    title: str = Field(description="Document title.")
    section: str = Field(description="Section path, 'A › B › C'.")
    url: str = Field(description="Deep link to the section.")
    excerpt: str = Field(description="The verbatim excerpt cited.")
    score: float = Field(description="Relevance score of the cited passage (higher is better).")
    document_id: str
    chunk_id: str
    also_in: list[SectionLink] = Field(
        default_factory=list, description="The same text in other documents, cited together with this one."
    )


class AnswerLine(BaseModel):
    """One line of an answer: a verbatim excerpt of citation ``n`` (or, with ``url``, a pointer
    to a linked article by its title)."""

    text: str = Field(description="Verbatim excerpt (or the linked article's title when url is set).")
    n: int = Field(description="The citation this line comes from ([n]).")
    url: str | None = Field(default=None, description="Set when the line points to a linked article.")


class Answer(BaseModel):
    answer_id: str
    question: str = Field(description="The question as understood (personal data masked).")
    answer: str = Field(description="pt-BR text; one line per answer line, each a cited excerpt ending in [n].")
    abstained: bool = Field(description="True unless outcome is 'answer'.")
    confidence: float = Field(ge=0.0, le=1.0, description="Calibrated probability that the answer is right.")
    citations: list[Citation]
    suggestions: list[Citation] = Field(default_factory=list, description="Nearest sections offered when abstaining.")
    outcome: Outcome = Field(default="answer", description="answer | pointer | refusal")
    confidence_label: ConfidenceLabel = Field(default="baixa", description="alta | média | baixa")
    lines: list[AnswerLine] = Field(default_factory=list, description="The answer's lines, in order.")
    snapshot: str
    latency_ms: float


class SearchHit(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    section: str
    url: str
    text: str
    score: float


class DocumentSection(BaseModel):
    title: str
    path: str
    anchor: str
    url: str
    text: str = Field("", description="The section's own text, as indexed.")


class DocumentView(BaseModel):
    document_id: str
    title: str
    url: str
    source: str
    updated_at: str | None
    sections: list[DocumentSection]


class StateHealth(BaseModel):
    """How recording questions and feedback goes (for /readyz and /metrics)."""

    degraded: bool = Field(default=False, description="True while the last attempt to record failed.")
    errors: int = Field(default=0, description="Failed attempts to record since the process started.")


class Suggestion(BaseModel):
    results: list[SearchHit]
    snapshot: str = Field(default="", description="The snapshot the results come from (links and flags name it).")
    checklist: list[str] = Field(default_factory=list, description="Ticket-review checklist items when they apply.")
