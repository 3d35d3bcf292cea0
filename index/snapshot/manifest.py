"""What a snapshot says about itself: its manifest, per-source status, the gate's verdict and
its documents' records."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from index.models import PATH_SEP, Document, collapse_path

# Keys older manifests carry that no longer mean anything (``analyzer``: the stems of the
# FTS5 table that snapshots used to hold); dropped on read so old snapshots still open.
_RETIRED_MANIFEST_KEYS = ("analyzer",)


# What the build that wrote a manifest did with a source: "ok" every document read;
# "partial" some documents failed (their previous version, if any, is kept); "failed" the
# listing failed (everything the source had is kept); "skipped" not asked for (carried over).
SourceState = Literal["ok", "partial", "failed", "skipped"]


@dataclass
class SourceStatus:
    status: SourceState
    documents: int = 0
    error: str | None = None
    failed_documents: list[str] = field(default_factory=list)


@dataclass
class GateRecord:
    """What the evaluation gate measured before publishing (``assistant.maintenance.gate``).

    ``candidate`` and ``served`` hold recall@5 and answer_hit on the golden set; ``served``
    is None when there was nothing comparable to measure against. ``broken`` lists the
    golden questions that made it fail; ``forced`` says it was published anyway.
    """

    passed: bool
    golden: str
    questions: int
    max_drop: float
    candidate: dict[str, float | None]
    served: dict[str, float | None] | None = None
    served_id: str | None = None
    broken: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    forced: bool = False
    # The answering pipeline the figures were measured with: its reranker (with the sha256 of
    # any trained weights, e.g. "reader@1a2b…") and Components.fingerprint (models and constants).
    reranker: str = ""
    pipeline: str = ""

    @property
    def publish(self) -> bool:
        return self.passed or self.forced


@dataclass
class Manifest:
    id: str
    created_at: str
    model_id: str
    dim: int
    chunking: dict[str, Any]
    documents: int
    chunks: int
    sources: dict[str, SourceStatus]
    parent: str | None = None
    # Answer-unit vectors (absent in snapshots written before they existed: None).
    units: int = 0
    units_version: str | None = None
    # The evaluation gate's figures (None: published without a golden set, or before the gate existed).
    gate: GateRecord | None = None
    # index.prepared's structures (None: written before them; computed at load instead).
    prepared: str | None = None
    # How queries search it (assistant.answering.retrieval): up to ``exact_max`` passages every
    # passage is scored; above, only the dense and lexical top candidates.
    retrieval: dict[str, Any] = field(default_factory=dict)
    # How the hub baselines were found: method (exact, knn), passages whose neighbours were
    # reused from the previous snapshot and passages searched (empty: written before).
    hubs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        for key in _RETIRED_MANIFEST_KEYS:
            data.pop(key, None)
        data["sources"] = {k: SourceStatus(**v) for k, v in data.get("sources", {}).items()}
        if data.get("gate") is not None:
            data["gate"] = GateRecord(**data["gate"])
        return cls(**data)


@dataclass
class DocumentRecord:
    """A document as stored: what is needed to serve it and to carry it over."""

    id: str
    source: str
    key: str
    title: str
    url: str
    content_hash: str
    version: str | None
    updated_at: str | None
    breadcrumbs: list[str]
    metadata: dict[str, str]
    outline: list[dict[str, str]]  # flattened sections: title, path, anchor

    @classmethod
    def from_document(cls, doc: Document) -> DocumentRecord:
        outline = []
        for path, sec in doc.root.walk(tuple(doc.breadcrumbs)):
            # Untitled sections (the page's opening text, text after the page title repeats)
            # are listed only when they hold text a citation may point at.
            if (sec is doc.root or not sec.title) and not sec.blocks:
                continue
            outline.append({"title": sec.title, "path": PATH_SEP.join(collapse_path(path)), "anchor": sec.anchor})
        return cls(
            id=doc.id, source=doc.source, key=doc.key, title=doc.title, url=doc.url,
            content_hash=doc.content_hash, version=doc.version, updated_at=doc.updated_at,
            breadcrumbs=doc.breadcrumbs, metadata=doc.metadata, outline=outline,
        )  # fmt: skip
