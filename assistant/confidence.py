"""Abstention: is the evidence strong enough to answer?

Rank-fused scores say nothing about whether a question is answerable, so confidence is
built from signals with absolute meaning. The deciding one is the best *hub-corrected*
cosine: over every passage searched, the question's cosine minus that passage's own
baseline, the mean cosine between the passage and its ``hub_k`` nearest passages (CSLS,
Conneau et al. 2018). Generic process text ("o analista deve ...") sits in a dense region
of the page and scores high with any support question; a passage must beat what its
neighbours already look like. The second is retriever agreement (the dense top-1 among
the lexical top 3 or the reverse), a small bonus.

Calibration (multilingual-e5-small, bench/abstain.py; AUC = answerable ranked above
unanswerable, dev / dev-blind):

    top-3 cosine (the previous rule)           0.845 / 0.731
    max cosine over all passages               0.865 / 0.714
    hub-corrected max cosine (k=5)             0.825 / 0.790
    hub-corrected + agreement (this rule)      0.820 / 0.843
    IDF coverage of the question by the top 2  0.770 / 0.547
    hub-corrected max over answer units (k=8)  0.815 / 0.824   (snapshot unit vectors)
      + agreement                              0.805 / 0.878   (no better operating point
                                                                than this rule: not adopted)
    measured on earlier chunking, no longer in the bench:
    best-sentence cosine, top-3 passages       0.845 / 0.761
    sparse "latent terms" head, normalized     0.885 / 0.692

The rule is hub + 0.01 * agreement >= -0.038, one constant set for both sets: no
answerable question of either set scores in [-0.0427, -0.0373] and -0.038 sits in that
gap. It declines 0.80 / 0.57 of the unanswerable questions and 0.025 / 0.000 of the
answerable ones (the top-3 cosine at its best shared center: 0.60 / 0.36 at 0.05 / 0.09;
at -0.040, the most cautious cut in the gap, 0.80 / 0.36). Written as a logistic:
logit = 200 * (hub - (-0.043)) +- 1.0, i.e. center -0.038 - 0.005 and a bonus of
200 * 0.005 for agreement, minus as much without it. The baseline depends on
the corpus and the embedder (e5 cosines live in a narrow band): recalibrate the center
when either changes a lot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.retrieval import Scored


@dataclass(frozen=True)
class ConfidenceConfig:
    hub_center: float = -0.043  # hub-corrected cosine where the signal is neutral (with agreement off)
    hub_scale: float = 200.0  # logit per unit of hub-corrected cosine
    agreement_bonus: float = 1.0  # +this when the retrievers agree on the top, -this when not
    bias: float = 0.0
    threshold: float = 0.5  # abstain below this confidence


HUB_K = 5  # neighbours that define a passage's baseline cosine
# Near-copies of a passage (the same boilerplate in two documents) are not its neighbourhood:
# counted, they would push its baseline towards 1 and silence every question only it answers.
DUPLICATE_COSINE = 0.985


@dataclass
class Signals:
    top_dense: float  # best cosine among the top 3 fused passages (logged, not used)
    agreement: bool
    hub: float = 0.0  # best hub-corrected cosine over all passages searched

    def as_dict(self) -> dict[str, float]:
        return {
            "top_dense": self.top_dense, "agreement": float(self.agreement),
            "hub": self.hub,
        }  # fmt: skip


def hub_baseline(matrix: np.ndarray, k: int = HUB_K, block: int = 1024) -> np.ndarray:
    """Each passage's mean cosine with its ``k`` nearest other passages (rows unit-norm).

    Computed once per snapshot, in row blocks so a large corpus never needs an N x N matrix.
    """
    n = len(matrix)
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    k = min(k, n - 1)
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, block):
        sims = matrix[start : start + block] @ matrix.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -1.0  # not its own neighbour
        sims[sims > DUPLICATE_COSINE] = -1.0
        out[start : start + block] = np.partition(sims, n - k, axis=1)[:, n - k :].mean(axis=1)
    return out


def hub_cosine(cosines: np.ndarray, baseline: np.ndarray) -> float:
    """The question's best cosine over the passages, each minus its own baseline."""
    return float((cosines - baseline).max()) if cosines.size else 0.0


def signals(results: list[Scored], hub: float | None = None) -> Signals:
    """The abstention signals. ``hub`` comes from :func:`hub_cosine` over all passages
    searched; without it (callers that only have the top results) it is left at 0."""
    if not results:
        return Signals(0.0, False, 0.0 if hub is None else hub)
    top_dense = max(r.dense for r in results[:3])
    dense_top = [r for r in results if r.dense_rank == 1]
    lexical_top = [r for r in results if r.lexical_rank == 1]
    agreement = any(r.lexical_rank is not None and r.lexical_rank <= 3 for r in dense_top) or any(
        r.dense_rank is not None and r.dense_rank <= 3 for r in lexical_top
    )
    return Signals(top_dense, agreement, 0.0 if hub is None else hub)


def confidence(sig: Signals, cfg: ConfidenceConfig) -> float:
    logit = (
        cfg.bias
        + cfg.hub_scale * (sig.hub - cfg.hub_center)
        + (cfg.agreement_bonus if sig.agreement else -cfg.agreement_bonus)
    )
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
