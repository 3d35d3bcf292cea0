"""Typed results of the assistant's public interface."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Citation(BaseModel):
    n: int = Field(description="Marker number used in the answer text as [n].")
    title: str = Field(description="Document title.")
    section: str = Field(description="Section path, 'A › B › C'.")
    url: str = Field(description="Deep link to the section.")
    excerpt: str = Field(description="The verbatim excerpt cited.")
    score: float = Field(description="Relevance score of the cited passage (higher is better).")
    document_id: str
    chunk_id: str


class Answer(BaseModel):
    answer_id: str
    question: str = Field(description="The question as understood (personal data masked).")
    answer: str = Field(description="pt-BR text; every sentence is a cited excerpt ending in [n].")
    abstained: bool
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation]
    suggestions: list[Citation] = Field(
        default_factory=list, description="Nearest sections offered when abstaining."
    )
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


class Suggestion(BaseModel):
    results: list[SearchHit]
    checklist: list[str] = Field(
        default_factory=list, description="Ticket-review checklist items when they apply."
    )
