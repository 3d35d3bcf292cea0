"""A trace, rendered: the public ``Answer`` (and search hits) the edges show.

Pure functions of the trace and the snapshot it was run on. The three outcomes read
differently: an answer quotes its lines with ``[n]``; a pointer says the documentation does
not answer directly and names the nearest sections; a refusal says so plainly.
"""

from __future__ import annotations

from assistant.answering.pipeline import Trace
from assistant.answering.retrieval import LoadedSnapshot, Scored
from assistant.privacy import mask_pii
from assistant.types import Answer, AnswerLine, Citation, SearchHit, SectionLink, confidence_label
from index.errors import SnapshotError
from index.models import PATH_SEP, Chunk
from index.snapshot import DocumentRecord
from index.textutil import fold

ABSTAIN_TEXT = "Não encontrei isso nas Boas Práticas."
POINTER_TEXT = "A documentação não responde isso diretamente. O mais próximo:"
LINK_PREFIX = "Artigo indicado: "
NEAREST_SECTIONS = 3  # sections a pointer or a refusal names
SUGGESTION_CHARS = 300  # excerpt length of a nearest section


def _known(doc: DocumentRecord | None, document_id: str) -> DocumentRecord:
    if doc is None:  # a chunk always has its document: the snapshot is damaged
        raise SnapshotError(f"documento {document_id} ausente do índice")
    return doc


def _within(r: Scored, title: str) -> str:
    return section_within(r.chunk, title)


def section_within(chunk: Chunk, title: str) -> str:
    """The section path inside its document: breadcrumbs and title are shown apart."""
    path = list(chunk.section_path)
    folded = [fold(p) for p in path]
    if fold(title) in folded:
        path = path[folded.index(fold(title)) + 1 :]
    return PATH_SEP.join(path) or title


def hit(loaded: LoadedSnapshot, r: Scored) -> SearchHit:
    doc = _known(loaded.document(r.chunk.document_id), r.chunk.document_id)
    return SearchHit(
        chunk_id=r.chunk.id, document_id=doc.id, title=doc.title, section=_within(r, doc.title),
        url=r.chunk.url, text=r.chunk.text, score=round(r.score, 6),
    )  # fmt: skip


def _link(loaded: LoadedSnapshot, r: Scored) -> SectionLink:
    doc = _known(loaded.document(r.chunk.document_id), r.chunk.document_id)
    return SectionLink(
        title=doc.title, section=_within(r, doc.title), url=r.chunk.url, document_id=doc.id, chunk_id=r.chunk.id
    )


def citation(loaded: LoadedSnapshot, n: int, r: Scored, excerpt: str) -> Citation:
    doc = _known(loaded.document(r.chunk.document_id), r.chunk.document_id)
    return Citation(
        n=n, title=doc.title, section=_within(r, doc.title), url=r.chunk.url, excerpt=excerpt,
        score=round(r.score, 6), document_id=doc.id, chunk_id=r.chunk.id,
        also_in=[_link(loaded, c) for c in r.copies],
    )  # fmt: skip


def render(trace: Trace, loaded: LoadedSnapshot, answer_id: str) -> Answer:
    """The answer the decision calls for (``latency_ms`` is the caller's to fill in)."""
    if trace.decision.outcome == "answer":
        return _answer(trace, loaded, answer_id)
    return _abstain(trace, loaded, answer_id)


def _answer(trace: Trace, loaded: LoadedSnapshot, answer_id: str) -> Answer:
    composed, p = trace.composed, trace.decision.probability
    citations = []
    for i, passage in enumerate(composed.passages):
        quoted = [ln.text for ln in composed.lines if ln.passage == i and not ln.link]
        # A link line cites the caption it stands for.
        excerpt = "\n".join(quoted) if quoted else passage.chunk.text
        citations.append(citation(loaded, i + 1, passage, excerpt))
    lines = [
        AnswerLine(text=ln.text, n=ln.passage + 1, url=composed.passages[ln.passage].chunk.url if ln.link else None)
        for ln in composed.lines
    ]
    text = "\n".join(f"{LINK_PREFIX}{ln.text} [{ln.n}]" if ln.url else f"{ln.text} [{ln.n}]" for ln in lines)
    return Answer(
        answer_id=answer_id, question=mask_pii(trace.question), answer=text, abstained=False,
        confidence=round(p, 4), citations=citations, snapshot=loaded.id, latency_ms=0.0,
        outcome="answer", confidence_label=confidence_label(p), lines=lines,
    )  # fmt: skip


def _abstain(trace: Trace, loaded: LoadedSnapshot, answer_id: str) -> Answer:
    seen: set[str] = set()
    nearest: list[Scored] = []
    for r in trace.ranked:
        if r.chunk.section not in seen:
            seen.add(r.chunk.section)
            nearest.append(r)
        if len(nearest) == NEAREST_SECTIONS:
            break
    suggestions = [citation(loaded, i + 1, r, r.chunk.text[:SUGGESTION_CHARS]) for i, r in enumerate(nearest)]
    outcome = trace.decision.outcome
    names = "; ".join(s.section.split(PATH_SEP)[-1] for s in suggestions)
    # The lead sentence on its own line: surfaces show it and then the sections as links.
    if outcome == "pointer" and suggestions:
        text = f"{POINTER_TEXT}\n{names}."
    else:
        outcome = "refusal"
        text = ABSTAIN_TEXT + (f"\nSeções mais próximas: {names}." if suggestions else "")
    p = trace.decision.probability
    return Answer(
        answer_id=answer_id, question=mask_pii(trace.question), answer=text, abstained=True,
        confidence=round(p, 4), citations=[], suggestions=suggestions, snapshot=loaded.id,
        latency_ms=0.0, outcome=outcome, confidence_label=confidence_label(p),
    )  # fmt: skip
