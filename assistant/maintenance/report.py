"""The maintainers' gap report: what the documentation did not answer, and what to do about it.

Built from the state store (the masked questions and feedback of a period) and the served
snapshot. Unanswered questions (outcome pointer or refusal) are grouped by topic with
scikit-learn's agglomerative clustering over the assistant's own question embeddings; the
renderers (assistant.maintenance.report_html, assistant.maintenance.report_text) only lay the result out.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from assistant.errors import InvalidQuestion
from assistant.maintenance.report_kcs import KcsReport, build_kcs
from assistant.privacy import mask_pii
from index.errors import BpaError
from index.models import PATH_SEP, Chunk
from index.settings import Settings
from index.snapshot import DocumentRecord
from index.textutil import collapse_ws, content_words, fold, stem_all

if TYPE_CHECKING:
    from assistant.service import Assistant

# Past this many unanswered questions only the newest are grouped: clustering is quadratic.
MAX_GROUPED = 2000
# Questions searched per group to find the sections bpa offered for it.
NEAREST_PROBES = 10
EXAMPLES = 3
MOST_CITED = 10
# A word is a glossary candidate when at least this many unanswered questions use it.
GLOSSARY_MIN_QUESTIONS = 2
GLOSSARY_MAX = 30
# mask_pii's placeholders are not analyst vocabulary.
_PLACEHOLDERS = frozenset({"email", "cnpj", "cpf", "telefone"})
_PERIOD = re.compile(r"^(\d{1,4})([hdw])$")
_UNITS = {"h": ("hours", "hora(s)"), "d": ("days", "dia(s)"), "w": ("weeks", "semana(s)")}
OWNER_NOTE = (
    "O ingest não guarda o autor dos documentos: o dono é o espaço (Confluence) ou a seção "
    "(Help Center) quando a fonte informa; nas demais fontes, o relatório agrupa só por fonte."
)


class ReportError(BpaError):
    """The report cannot be made as asked (an invalid period)."""


def parse_period(text: str) -> timedelta:
    """'7d', '24h', '4w' -> a timedelta; anything else is a ReportError naming the value."""
    match = _PERIOD.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ReportError(
            f"período inválido {text!r}: use um número seguido de h (horas), d (dias) ou w (semanas), ex.: 7d"
        )
    return timedelta(**{_UNITS[match.group(2)][0]: int(match.group(1))})


# --- the report's shape ----------------------------------------------------------------------


class SectionRef(BaseModel):
    document_id: str
    title: str = Field(description="Document title.")
    section: str = Field(description="Section path, 'A › B › C'.")
    url: str
    source: str
    count: int = Field(0, description="Questions (or answers) that reached this section in the period.")


class GapGroup(BaseModel):
    size: int = Field(description="Unanswered questions in this topic group.")
    examples: list[str] = Field(description="Up to 3 questions closest to the group's centre (masked).")
    nearest: list[SectionRef] = Field(description="The sections bpa offered most for these questions.")


class Unhelpful(BaseModel):
    answer_id: str
    at: str = Field(description="When the 👎 was given (UTC).")
    channel: str = Field(description="Where the 👎 came from: api, web, zendesk, slack...")
    question: str
    abstained: bool
    comment: str | None
    cited: list[SectionRef]


class StaleDocument(BaseModel):
    document_id: str
    title: str
    source: str
    owner: str | None
    url: str
    updated_at: str
    days: int = Field(description="Days since the source last updated it.")


class GlossaryCandidate(BaseModel):
    term: str = Field(description="The word, folded as glossary.toml keys are.")
    questions: int = Field(description="Unanswered questions that use it.")
    examples: list[str]


class DayStats(BaseModel):
    day: str
    questions: int
    abstained: int
    helpful: int
    unhelpful: int

    @property
    def abstention_rate(self) -> float:
        return self.abstained / self.questions if self.questions else 0.0


class OwnerStats(BaseModel):
    source: str
    owner: str | None
    documents: int
    stale: int
    citations: int = Field(description="Citations of its sections in the period.")
    unhelpful: int = Field(description="👎 answers citing it.")
    gaps: int = Field(description="Unanswered questions whose nearest section is in it.")
    never_cited: int = Field(description="Its sections cited by no answer in the period.")


class Totals(BaseModel):
    questions: int
    answered: int
    abstained: int
    helpful: int
    unhelpful: int


class GapReport(BaseModel):
    generated_at: str
    period: str = Field(description="The period asked for, e.g. 7d.")
    since: str
    snapshot: str
    stale_after_days: int
    totals: Totals
    days: list[DayStats]
    gaps: list[GapGroup]
    unhelpful: list[Unhelpful]
    most_cited: list[SectionRef]
    never_cited: list[SectionRef]
    stale: list[StaleDocument]
    undated_documents: int = Field(description="Documents whose source gives no update date.")
    glossary: list[GlossaryCandidate]
    owners: list[OwnerStats]
    notes: list[str]
    kcs: KcsReport = Field(
        default_factory=KcsReport, description="Zendesk sidebar: link rate, reuse per section, flags."
    )


# --- building it -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Asked:
    answer_id: str
    at: datetime
    question: str
    abstained: bool
    chunk_ids: list[str]


def _when(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def owner_of(doc: DocumentRecord) -> str | None:
    """Who owns a document, as far as its source says (see OWNER_NOTE)."""
    if doc.metadata.get("space"):
        return f"espaço {doc.metadata['space']}"
    if doc.metadata.get("section_id"):
        return f"seção {doc.metadata['section_id']}"
    return None


class _Sections:
    """The snapshot's sections (document, path), with what a report shows of them."""

    def __init__(self, chunks: Iterable[Chunk], documents: dict[str, DocumentRecord]) -> None:
        self.documents = documents
        self.of_chunk: dict[str, tuple[str, str]] = {}
        self.first: dict[tuple[str, str], Chunk] = {}
        for chunk in sorted(chunks, key=lambda c: (c.document_id, c.ordinal)):
            key = (chunk.document_id, chunk.section)
            self.of_chunk[chunk.id] = key
            self.first.setdefault(key, chunk)

    def ref(self, key: tuple[str, str], count: int = 0) -> SectionRef:
        chunk, doc = self.first[key], self.documents[key[0]]
        path = list(chunk.section_path)
        while path and fold(path[0]) == fold(doc.title):  # the title is shown apart
            path.pop(0)
        return SectionRef(
            document_id=doc.id,
            title=doc.title,
            section=PATH_SEP.join(path) or doc.title,
            url=chunk.url,
            source=doc.source,
            count=count,
        )

    def of(self, chunk_ids: Iterable[str]) -> list[tuple[str, str]]:
        """The distinct known sections of ``chunk_ids`` (chunks of older snapshots are dropped)."""
        return list(dict.fromkeys(self.of_chunk[c] for c in chunk_ids if c in self.of_chunk))


def group_by_topic(vectors: np.ndarray, distance: float) -> list[list[int]]:
    """Indices of ``vectors`` (L2-normalised rows) grouped by average-linkage clustering on
    cosine distance, largest group first."""
    from sklearn.cluster import AgglomerativeClustering  # imported when used: a second to load

    n = len(vectors)
    if n < 2:
        return [list(range(n))] if n else []
    # Precomputed distances: an all-zero vector (a question of no known word) is simply far.
    distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, metric="precomputed", linkage="average"
    ).fit_predict(distances)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[int(label)].append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


class GapReporter:
    """Builds the report for a period; ``reporter("7d")`` is what the CLI and the admin API call."""

    def __init__(self, settings: Settings, assistant: Assistant) -> None:
        self.settings = settings
        self.assistant = assistant

    def __call__(self, period: str, *, now: datetime | None = None) -> GapReport:
        span = parse_period(period)
        now = now or datetime.now(UTC)
        since = now - span
        snapshot = self.assistant.current().snapshot  # NoSnapshotError before reading anything
        documents = {d.id: d for d in snapshot.documents()}
        chunks = list(snapshot.all_chunks().values())
        sections = _Sections(chunks, documents)

        every = self._questions()
        asked = [q for q in every if q.at >= since]
        by_answer = {q.answer_id: q for q in every}  # a 👎 in the period may rate an older answer
        feedback = [row for row in self.assistant.state.feedback() if (at := _when(row["created_at"])) and at >= since]
        unanswered = [q for q in asked if q.abstained]
        notes = [OWNER_NOTE]
        if len(unanswered) > MAX_GROUPED:
            notes.append(f"Só as {MAX_GROUPED} perguntas sem resposta mais recentes foram agrupadas.")
        gaps = self._gaps(unanswered[-MAX_GROUPED:], sections)

        cited: Counter[tuple[str, str]] = Counter()
        for q in asked:
            cited.update(sections.of(q.chunk_ids))
        unhelpful = self._unhelpful(feedback, by_answer, sections)
        stale, undated = self._stale(documents.values(), now)
        never = [sections.ref(k) for k in sections.first if k not in cited]
        return GapReport(
            generated_at=now.isoformat(timespec="seconds"),
            period=period.strip().lower(),
            since=since.isoformat(timespec="seconds"),
            snapshot=snapshot.id,
            stale_after_days=self.settings.stale_after_days,
            totals=Totals(
                questions=len(asked),
                answered=len(asked) - len(unanswered),
                abstained=len(unanswered),
                helpful=sum(1 for f in feedback if f["helpful"]),
                unhelpful=sum(1 for f in feedback if not f["helpful"]),
            ),
            days=_days(asked, feedback, since, now),
            gaps=gaps,
            unhelpful=unhelpful,
            most_cited=[sections.ref(k, n) for k, n in cited.most_common(MOST_CITED)],
            never_cited=never,
            stale=stale,
            undated_documents=undated,
            glossary=self._glossary(unanswered, chunks, documents),
            owners=_owners(documents, sections, cited, unhelpful, gaps, never, stale),
            notes=notes,
            kcs=build_kcs(self.assistant.state, sections, since),
        )

    def _questions(self) -> list[_Asked]:
        out = []
        for row in self.assistant.state.questions():
            at = _when(row["created_at"])
            if at is None:
                continue
            try:
                chunk_ids = [str(c) for c in json.loads(row["chunk_ids"])]
            except (TypeError, ValueError):
                chunk_ids = []
            # The store holds masked text; masked again in case a row predates a masking rule.
            question = mask_pii(collapse_ws(row["question"]))
            out.append(_Asked(row["answer_id"], at, question, bool(row["abstained"]), chunk_ids))
        return out

    def _gaps(self, unanswered: list[_Asked], sections: _Sections) -> list[GapGroup]:
        if not unanswered:
            return []
        texts = [q.question for q in unanswered]
        size = self.settings.embed_batch_size
        vectors = np.concatenate(
            [self.assistant.embedder.embed(texts[i : i + size], "query") for i in range(0, len(texts), size)]
        ).astype(np.float32)
        groups = []
        for members in group_by_topic(vectors, self.settings.report_group_distance):
            centre = vectors[members].mean(axis=0)
            closest = sorted(members, key=lambda i: -float(vectors[i] @ centre))
            examples = list(dict.fromkeys(texts[i] for i in closest))[:EXAMPLES]
            groups.append(
                GapGroup(size=len(members), examples=examples, nearest=self._nearest(closest, texts, sections))
            )
        return groups

    def _nearest(self, members: list[int], texts: list[str], sections: _Sections) -> list[SectionRef]:
        """The sections the assistant offers for the group's central questions (its pointer
        and refusal answers name the nearest sections; they are not stored, so they are
        searched again on the served snapshot)."""
        offered: Counter[tuple[str, str]] = Counter()
        for i in members[:NEAREST_PROBES]:
            try:
                hits = self.assistant.search(texts[i], k=5)
            except InvalidQuestion:  # masking can push a question past the length limit
                continue
            offered.update(sections.of(h.chunk_id for h in hits)[:EXAMPLES])
        return [sections.ref(k, n) for k, n in offered.most_common(EXAMPLES)]

    def _unhelpful(self, feedback: list[Any], by_answer: dict[str, _Asked], sections: _Sections) -> list[Unhelpful]:
        out = []
        for row in feedback:
            if row["helpful"]:
                continue
            q = by_answer.get(row["answer_id"])
            if q is None:
                continue
            out.append(
                Unhelpful(
                    answer_id=q.answer_id,
                    at=row["created_at"],
                    channel=row["channel"],
                    question=q.question,
                    abstained=q.abstained,
                    comment=mask_pii(row["comment"]) if row["comment"] else None,
                    cited=[sections.ref(k) for k in sections.of(q.chunk_ids)],
                )
            )
        return out

    def _stale(self, documents: Iterable[DocumentRecord], now: datetime) -> tuple[list[StaleDocument], int]:
        stale, undated = [], 0
        for doc in documents:
            updated = _when(doc.updated_at) if doc.updated_at else None
            if updated is None:
                undated += 1
                continue
            days = (now - updated).days
            if days > self.settings.stale_after_days:
                stale.append(
                    StaleDocument(
                        document_id=doc.id,
                        title=doc.title,
                        source=doc.source,
                        owner=owner_of(doc),
                        url=doc.url,
                        updated_at=doc.updated_at or "",
                        days=days,
                    )
                )
        return sorted(stale, key=lambda d: -d.days), undated

    def _glossary(
        self, unanswered: list[_Asked], chunks: list[Chunk], documents: dict[str, DocumentRecord]
    ) -> list[GlossaryCandidate]:
        """Words of unanswered questions whose stem occurs in no passage (nor heading, nor
        title) and that the glossary does not map yet: the analysts' words for things."""
        corpus: set[str] = set()
        for text in [c.embed_text for c in chunks] + [d.title for d in documents.values()]:
            corpus.update(stem_all(content_words(text)))
        uses: dict[str, list[str]] = defaultdict(list)
        for q in unanswered:
            for word in dict.fromkeys(content_words(q.question)):
                if len(word) > 2 and not word.isdigit() and word not in _PLACEHOLDERS:
                    uses[word].append(q.question)
        candidates = []
        for word, questions in uses.items():
            if len(questions) < GLOSSARY_MIN_QUESTIONS or stem_all([word])[0] in corpus:
                continue
            if self.assistant.glossary.expand(word):  # already mapped
                continue
            examples = list(dict.fromkeys(questions))[:EXAMPLES]
            candidates.append(GlossaryCandidate(term=word, questions=len(questions), examples=examples))
        candidates.sort(key=lambda c: (-c.questions, c.term))
        return candidates[:GLOSSARY_MAX]


def _days(asked: list[_Asked], feedback: list[Any], since: datetime, now: datetime) -> list[DayStats]:
    """One row per UTC day from the first activity (or ``since``, the later) to today."""
    per: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for q in asked:
        row = per[q.at.date()]
        row[0] += 1
        row[1] += int(q.abstained)
    for f in feedback:
        at = _when(f["created_at"])
        if at is not None:
            per[at.date()][2 if f["helpful"] else 3] += 1
    start = max(since.date(), min(per)) if per else now.date()
    out = []
    day = start
    while day <= now.date():
        asked_n, abstained_n, helpful_n, unhelpful_n = per.get(day, [0, 0, 0, 0])
        out.append(
            DayStats(
                day=day.isoformat(), questions=asked_n, abstained=abstained_n, helpful=helpful_n, unhelpful=unhelpful_n
            )
        )
        day += timedelta(days=1)
    return out


def _owners(
    documents: dict[str, DocumentRecord],
    sections: _Sections,
    cited: Counter[tuple[str, str]],
    unhelpful: list[Unhelpful],
    gaps: list[GapGroup],
    never: list[SectionRef],
    stale: list[StaleDocument],
) -> list[OwnerStats]:
    """The report's figures per (source, owner)."""
    key_of = {d.id: (d.source, owner_of(d)) for d in documents.values()}
    rows: dict[tuple[str, str | None], Counter[str]] = defaultdict(Counter)
    for key in key_of.values():
        rows[key]["documents"] += 1
    for (doc_id, _), n in cited.items():
        rows[key_of[doc_id]]["citations"] += n
    for u in unhelpful:
        for doc_id in dict.fromkeys(s.document_id for s in u.cited):
            rows[key_of[doc_id]]["unhelpful"] += 1
    for g in gaps:
        if g.nearest:
            rows[key_of[g.nearest[0].document_id]]["gaps"] += g.size
    for s in never:
        rows[key_of[s.document_id]]["never_cited"] += 1
    for d in stale:
        rows[key_of[d.document_id]]["stale"] += 1
    return [
        OwnerStats(
            source=source,
            owner=owner,
            documents=c["documents"],
            stale=c["stale"],
            citations=c["citations"],
            unhelpful=c["unhelpful"],
            gaps=c["gaps"],
            never_cited=c["never_cited"],
        )
        for (source, owner), c in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
