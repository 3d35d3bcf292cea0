"""Training pairs for the reader, from the public Portuguese QA copies in ../shared/data/qa-pt/.

Every pair is (question, text, label): does ``text`` answer (or support) ``question``?
Sources and forms (see DATA.md for repository, commit, file and licence):

``squad-sentence``   SQuAD 2.0-pt: the sentence holding the answer (1) vs the paragraph's
                     other sentences (0; the one sharing most question words first).
``squad-paragraph``  SQuAD 2.0-pt: the question's paragraph (1) vs the other paragraph of the
                     same article that shares most question words (0: a retrieval negative).
``squad-unanswerable`` SQuAD 2.0-pt unanswerable questions against their own paragraph and its
                     closest sentence (0): the text is on topic and does not answer.
``milkqa``           MilkQA: a help-desk question and its answer (1) vs the answer that shares
                     most words with it among the others (0).
``aia-bde``          AIA-BDE v2.1: an FAQ question, or a person's rewording of it, and its answer
                     (1) vs the closest other answer of the same section (0).
``assin``            ASSIN 1 pt-BR and ASSIN 2 train splits: the hypothesis as the question and
                     the premise as the text; entailment or paraphrase 1, none 0.

Validation: the SQuAD pairs of a few articles held out by title (never trained on). Not
read at all: squad-v1.1-pt-sample (the external benchmark), PIRA, the ASSIN dev and test
splits, FaQuAD, and the project's dev question sets.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from index.textutil import analyze  # noqa: E402
from index.units import split_sentences  # noqa: E402

# ../shared/data/qa-pt beside the checkout (or beside a parent of it: a git worktree).
DEFAULT_DATA = next(
    (p / "shared" / "data" / "qa-pt" for p in ROOT.parents if (p / "shared" / "data" / "qa-pt").is_dir()),
    ROOT.parent / "shared" / "data" / "qa-pt",
)
FILES = {
    "squad": "squad-v2.0-pt/dev-v2.0.json",
    "milkqa-queries": "milkqa/queries.csv",
    "milkqa-corpus": "milkqa/corpus.csv",
    "aia-bde": "aia-bde/AIA-BDE_v2.1.txt",
    "assin1": "assin/assin-ptbr-train.xml",
    "assin2": "assin/assin2-train-only.xml",
}
# Held out for validation, by article title (the file's last articles in title order).
VALIDATION_ARTICLES = 4
# Per source, at most this many pairs per epoch by default (about 20,000 in all).
DEFAULT_CAPS = {
    "squad-sentence": 7000,
    "squad-paragraph": 4000,
    "squad-unanswerable": 3000,
    "milkqa": 2000,
    "aia-bde": 2000,
    "assin": 2000,
}


@dataclass(frozen=True)
class Pair:
    query: str
    text: str
    label: int
    source: str


def file_manifest(data: Path) -> dict[str, str]:
    """sha256 of every input file, so a resumed run can check it reads the same data."""
    out = {}
    for rel in FILES.values():
        out[rel] = hashlib.sha256((data / rel).read_bytes()).hexdigest()
    return out


class _Idf:
    """IDF-weighted overlap of analysed words: the "shares most question words" order."""

    def __init__(self, texts: Iterable[str]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            df.update(set(analyze(text)))
            n += 1
        self.idf = {w: math.log((n + 1) / (c + 0.5)) for w, c in df.items()}
        self._words: dict[str, set[str]] = {}

    def overlap(self, query: set[str], text: str) -> float:
        words = self._words.get(text)
        if words is None:
            words = self._words[text] = set(analyze(text))
        return sum(self.idf.get(w, 0.0) for w in query & words)


def _sentences_with_spans(context: str) -> list[tuple[str, int, int]]:
    out, cursor = [], 0
    for sentence in split_sentences(context):
        start = context.find(sentence, cursor)
        if start < 0:
            continue
        out.append((sentence, start, start + len(sentence)))
        cursor = start + len(sentence)
    return out


def squad_pairs(data: Path, rng: random.Random) -> tuple[dict[str, list[Pair]], list[Pair]]:
    """SQuAD 2.0-pt pairs for training by form, and the held-out articles' pairs."""
    articles = json.loads((data / FILES["squad"]).read_text(encoding="utf-8"))["data"]
    articles = sorted(articles, key=lambda a: a["title"])
    held = {a["title"] for a in articles[-VALIDATION_ARTICLES:]}
    train: dict[str, list[Pair]] = {"squad-sentence": [], "squad-paragraph": [], "squad-unanswerable": []}
    validation: list[Pair] = []
    for article in articles:
        paragraphs = [p["context"] for p in article["paragraphs"]]
        idf = _Idf(paragraphs)
        out = train if article["title"] not in held else None
        for pi, para in enumerate(article["paragraphs"]):
            context = para["context"]
            sentences = _sentences_with_spans(context)
            for qa in para["qas"]:
                q = qa["question"].strip()
                qwords = set(analyze(q))
                made: dict[str, list[Pair]] = {"squad-sentence": [], "squad-paragraph": [], "squad-unanswerable": []}
                ranked = sorted(sentences, key=lambda s: -idf.overlap(qwords, s[0]))
                if qa.get("is_impossible"):
                    made["squad-unanswerable"].append(Pair(q, context, 0, "squad-unanswerable"))
                    if ranked:
                        made["squad-unanswerable"].append(Pair(q, ranked[0][0], 0, "squad-unanswerable"))
                else:
                    answer = qa["answers"][0]
                    start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                    gold = [s for s in sentences if s[1] <= start and end <= s[2] + 1]
                    if gold and len(sentences) > 1:
                        made["squad-sentence"].append(Pair(q, gold[0][0], 1, "squad-sentence"))
                        others = [s for s in ranked if s is not gold[0]]
                        picks = others[:1] + rng.sample(others[1:], min(1, len(others) - 1))
                        made["squad-sentence"].extend(Pair(q, s[0], 0, "squad-sentence") for s in picks)
                    nearest = max(
                        (j for j in range(len(paragraphs)) if j != pi),
                        key=lambda j: idf.overlap(qwords, paragraphs[j]),
                        default=None,
                    )
                    if nearest is not None:
                        made["squad-paragraph"].append(Pair(q, context, 1, "squad-paragraph"))
                        made["squad-paragraph"].append(Pair(q, paragraphs[nearest], 0, "squad-paragraph"))
                for form, pairs in made.items():
                    (validation if out is None else out[form]).extend(pairs)
    return train, validation


def milkqa_pairs(data: Path) -> list[Pair]:
    with (data / FILES["milkqa-queries"]).open(encoding="utf-8", newline="") as fh:
        queries = {row["id"]: " ".join(row["text"].split()) for row in csv.DictReader(fh)}
    with (data / FILES["milkqa-corpus"]).open(encoding="utf-8", newline="") as fh:
        answers = {row["id"]: " ".join(row["text"].split()) for row in csv.DictReader(fh)}
    ids = sorted(set(queries) & set(answers), key=int)
    idf = _Idf(answers[i] for i in ids)
    pairs = []
    for k, i in enumerate(ids):
        qwords = set(analyze(queries[i]))
        # The nearest other answer among 200 neighbours by id: linear, not quadratic.
        window = [j for j in ids[max(0, k - 100) : k + 100] if j != i]
        negative = max(window, key=lambda j: idf.overlap(qwords, answers[j]))
        pairs += [Pair(queries[i], answers[i], 1, "milkqa"), Pair(queries[i], answers[negative], 0, "milkqa")]
    return pairs


def aia_pairs(data: Path) -> list[Pair]:
    faqs: list[dict[str, object]] = []
    section = ""
    current: dict[str, object] = {}
    for line in (data / FILES["aia-bde"]).read_text(encoding="utf-8").splitlines():
        tag, _, value = line.partition(":")
        value = value.strip()
        if tag in ("S", "SS"):
            section = value if tag == "SS" else section
        elif tag == "P":
            current = {"section": section, "question": value, "people": [], "answer": ""}
            faqs.append(current)
        elif tag in ("VUC", "VIN") and current:
            current["people"].append(value)  # type: ignore[attr-defined]
        elif tag == "R" and current:
            current["answer"] = value
    faqs = [f for f in faqs if f["answer"]]
    idf = _Idf(str(f["answer"]) for f in faqs)
    pairs = []
    for i, faq in enumerate(faqs):
        same = [j for j, g in enumerate(faqs) if j != i and g["section"] == faq["section"]] or [
            j for j in range(len(faqs)) if j != i
        ]
        people = list(faq["people"])  # type: ignore[call-overload]
        for q in [str(faq["question"]), *people[:1]]:
            qwords = set(analyze(q))
            negative = max(same, key=lambda j: idf.overlap(qwords, str(faqs[j]["answer"])))
            pairs += [Pair(q, str(faq["answer"]), 1, "aia-bde"), Pair(q, str(faqs[negative]["answer"]), 0, "aia-bde")]
    return pairs


def assin_pairs(data: Path) -> list[Pair]:
    pairs = []
    for key in ("assin1", "assin2"):
        for pair in ET.parse(data / FILES[key]).getroot().iter("pair"):
            t, h = (pair.findtext("t") or "").strip(), (pair.findtext("h") or "").strip()
            label = 1 if pair.get("entailment") in ("Entailment", "Paraphrase") else 0
            if t and h:
                pairs.append(Pair(h, t, label, "assin"))
    return pairs


def corpus_pairs(chunks: Iterable[tuple[tuple[str, ...], str]]) -> list[Pair]:
    """Our corpus in the one form that names no question of ours: a section's heading (or FAQ
    question) as the question, its passage (1) and the passage of another section sharing
    most of its words (0). ``chunks``: (section path, text) of the published snapshot."""
    items = [(path[-1], text) for path, text in chunks if path and len(path[-1].split()) >= 2]
    idf = _Idf(text for _, text in items)
    pairs, seen = [], set()
    for heading, text in items:
        if heading in seen:
            continue
        seen.add(heading)
        qwords = set(analyze(heading))
        others = [j for j, (h, _) in enumerate(items) if h != heading]
        if not others:
            continue
        negative = max(others, key=lambda j: idf.overlap(qwords, items[j][1]))
        pairs += [Pair(heading, text, 1, "corpus-heading"), Pair(heading, items[negative][1], 0, "corpus-heading")]
    return pairs


def build(
    data: Path, seed: int = 0, caps: dict[str, int] | None = None, corpus: list[Pair] | None = None
) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, shuffled, at most ``caps[source]`` each; held-out validation pairs).
    ``corpus``: :func:`corpus_pairs` of the published snapshot, when the run asks for them."""
    rng = random.Random(seed)
    caps = caps or DEFAULT_CAPS
    by_source, validation = squad_pairs(data, rng)
    by_source["milkqa"] = milkqa_pairs(data)
    by_source["aia-bde"] = aia_pairs(data)
    by_source["assin"] = assin_pairs(data)
    if corpus:
        by_source["corpus-heading"] = list(corpus)
    train: list[Pair] = []
    for source, pairs in by_source.items():
        rng.shuffle(pairs)
        train.extend(pairs[: caps.get(source, len(pairs))])
    rng.shuffle(train)
    rng.shuffle(validation)
    return train, validation


def load_jsonl(path: Path) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def counts(pairs: list[Pair]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in pairs:
        c = out.setdefault(p.source, {"pairs": 0, "positive": 0})
        c["pairs"] += 1
        c["positive"] += p.label
    return out


if __name__ == "__main__":  # print what a training run would read
    train_pairs, val_pairs = build(DEFAULT_DATA)
    print(json.dumps({"train": counts(train_pairs), "validation": counts(val_pairs)}, indent=1))
    print(json.dumps(asdict(train_pairs[0]), ensure_ascii=False)[:300])
