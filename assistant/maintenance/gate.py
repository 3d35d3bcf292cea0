"""The evaluation gate: a new snapshot is published only if it answers the maintainers'
golden questions (``corpus/golden.jsonl``) about as well as the snapshot being served.

``ingest.pipeline.run_ingest`` takes the gate as a callable (ingest cannot import this
package); the edge (bpa/cli.py) builds it. Both snapshots are measured now, with the same
model, glossary and golden file, so a change of any of them is never mistaken for a
change of the documentation. The questions go through the pipeline itself
(``answering.pipeline.run``), built without a service: nothing is recorded in the questions log.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answering.pipeline import Components, run
from assistant.answering.pipeline import Question as Asked
from assistant.answering.retrieval import LoadedSnapshot
from assistant.maintenance.evaluation import Question, composed_hit, hits
from index.embedding.protocol import Embedder
from index.settings import Settings
from index.snapshot import GateRecord, Snapshot

GATE_K = 5
RECALL = f"recall@{GATE_K}"
ANSWER_HIT = "answer_hit"
_LABELS = {RECALL: "recall@5", ANSWER_HIT: "acerto da resposta"}


@dataclass(frozen=True)
class _Outcome:
    in_top_k: bool  # a gold phrase among the first GATE_K passages
    answered: bool  # answered (not abstained), and the answer contains a gold phrase


class EvaluationGate:
    """``gate(candidate, served) -> GateRecord``; ``force`` publishes whatever the figures."""

    def __init__(
        self, settings: Settings, embedder: Embedder, questions: list[Question], *, force: bool = False
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.questions = [q for q in questions if q.answerable]
        self.force = force
        # Built once, shared by both measurements.
        self.components = Components.build(settings, embedder)

    def measure(self, snapshot: Snapshot) -> dict[str, _Outcome]:
        loaded = LoadedSnapshot(snapshot)
        out = {}
        for q in self.questions:
            trace = run(Asked(q.question, GATE_K), loaded, self.components)
            top = any(hits(r.chunk.section + "\n" + r.chunk.text, q.gold) for r in trace.ranked[:GATE_K])
            answered = trace.decision.outcome == "answer" and composed_hit(trace, q.gold)[0]
            out[q.id] = _Outcome(top, answered)
        return out

    def _comparable(self, served: Snapshot | None) -> bool:
        m = served.manifest if served is not None else None
        return m is not None and m.model_id == self.embedder.model_id and m.dim == self.embedder.dim

    def __call__(self, candidate: Snapshot, served: Snapshot | None) -> GateRecord:
        new = self.measure(candidate)
        record = GateRecord(
            passed=True, golden=str(self.settings.golden), questions=len(self.questions),
            max_drop=self.settings.gate_max_drop, candidate=_figures(new), forced=self.force,
            reranker=self.components.reranker.name, pipeline=self.components.fingerprint,
        )  # fmt: skip
        if served is None or not self._comparable(served):
            return record  # nothing served, or made by another model: nothing to fall below
        old = self.measure(served)
        record.served, record.served_id = _figures(old), served.id
        record.broken = [
            q.id
            for q in self.questions
            if (old[q.id].in_top_k and not new[q.id].in_top_k) or (old[q.id].answered and not new[q.id].answered)
        ]
        for key, label in _LABELS.items():
            before, after = record.served[key], record.candidate[key]
            if before is not None and after is not None and round(before - after, 4) > record.max_drop:
                record.reasons.append(
                    f"{label} caiu de {before:.3f} para {after:.3f} (queda máxima: {record.max_drop:.3f})"
                )
        for q in self.questions:
            if q.must and old[q.id].answered and not new[q.id].answered:
                record.reasons.append(f"a pergunta obrigatória {q.id} deixou de ser respondida com o trecho esperado")
        record.passed = not record.reasons
        return record


def _figures(outcomes: dict[str, _Outcome]) -> dict[str, float | None]:
    n = len(outcomes)
    if not n:
        return {RECALL: None, ANSWER_HIT: None}
    return {
        RECALL: round(sum(o.in_top_k for o in outcomes.values()) / n, 4),
        ANSWER_HIT: round(sum(o.answered for o in outcomes.values()) / n, 4),
    }
