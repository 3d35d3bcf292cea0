"""bench/external.py: its metrics on known rankings, and its whole run (corpus, real ingest,
the answer pipeline, the bm25s baseline) on a three-paragraph SQuAD file with the fake embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import external

PARAGRAPHS = [
    (
        "Pássaros",
        "O beija-flor bate as asas cerca de oitenta vezes por segundo. Ele se alimenta do néctar das flores.",
        [
            ("Quantas vezes por segundo o beija-flor bate as asas?", "oitenta vezes", 35),
            ("Do que se alimenta o beija-flor?", "néctar das flores", 0),  # failed alignment: dropped
        ],
    ),
    (
        "Pássaros",
        "A coruja caça à noite. Seus olhos enxergam bem no escuro e a cabeça gira quase uma volta inteira.",
        [("Quando a coruja caça?", "à noite", 14), ("O que a coruja gira quase por inteiro?", "a cabeça", 59)],
    ),
    (
        "Vulcões",
        "O vulcão Etna fica na Sicília. Sua erupção mais longa durou dez anos e cobriu vilarejos de lava.",
        [
            ("Onde fica o vulcão Etna?", "na Sicília", 19),
            ("Quanto tempo durou a erupção mais longa do Etna?", "dez anos", 60),
            ("Qual é a capital da Itália?", "Roma", 3),  # the text is not in the paragraph: dropped
        ],
    ),
]


def squad(path: Path) -> Path:
    data = {"version": "v1.1", "data": []}
    for title, context, qas in PARAGRAPHS:
        article = next((a for a in data["data"] if a["title"] == title), None)
        if article is None:
            article = {"title": title, "paragraphs": []}
            data["data"].append(article)
        article["paragraphs"].append({
            "context": context,
            "qas": [
                {"id": f"{title[:3]}{len(article['paragraphs'])}-{i}", "question": q,
                 "answers": [{"text": a, "answer_start": s}]}
                for i, (q, a, s) in enumerate(qas)
            ],
        })  # fmt: skip
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_retrieval_metrics_on_known_ranks() -> None:
    # Ranks 1, 2, absent, and 11 (past the depth): two of four found in the top 10.
    m = external.retrieval_metrics([1, 2, None, 11])
    assert m["recall@1"] == 0.25
    assert m["recall@5"] == 0.5
    assert m["mrr@10"] == round((1 + 1 / 2) / 4, 4)
    assert m["ndcg@10"] == round((1 + 1 / math.log2(3)) / 4, 4)
    assert external.retrieval_metrics([1, 1]) == {"recall@1": 1.0, "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}


def test_first_rank_counts_distinct_documents() -> None:
    # Two passages of document 4 before document 7: 7 is the second document, not the third passage.
    assert external.first_rank([4, 4, 7, 2], 7) == 2
    assert external.first_rank([4, 4, 7], 9) is None


def test_alignment_rule() -> None:
    assert external.aligned("abc def", "def", 4)
    assert external.aligned("abc def", "abc", 0)
    assert not external.aligned("abc def", "def", 0)  # start 0, text elsewhere: a failed alignment
    assert not external.aligned("abc def", "xyz", 2)
    assert not external.aligned("abc def", " ", 3)


def test_load_squad_keeps_aligned_questions(tmp_path: Path) -> None:
    paragraphs, items, dropped = external.load_squad(squad(tmp_path / "set.json"))
    assert [p.title for p in paragraphs] == ["Pássaros §1", "Pássaros §2", "Vulcões §1"]
    assert (len(items), dropped) == (5, 2)
    assert [i.paragraph for i in items] == [0, 1, 1, 2, 2]
    assert len(external.sample(items, 3, seed=1)) == 3
    assert external.sample(items, 3, seed=1) == external.sample(items, 3, seed=1)


def test_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{não é json", encoding="utf-8")
    with pytest.raises(SystemExit, match="não é um arquivo SQuAD legível"):
        external.load_squad(bad)


def test_whole_run_on_a_tiny_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")
    data = squad(tmp_path / "tiny.json")
    cache = tmp_path / "cache"
    result = external.evaluate(data, cache, "fake")
    assert (result["paragraphs"], result["aligned"], result["dropped"], result["asked"]) == (3, 5, 2, 5)
    assert result["ingest"]["docs"] == 3 and result["ingest"]["embedded"] > 0
    assert len(list((cache / "tiny" / "corpus").glob("*.html"))) == 3
    # Every question names words only its own paragraph holds: BM25 ranks it first.
    assert result["bm25s"] == {"recall@1": 1.0, "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}
    bpa = result["bpa"]
    assert bpa["recall@5"] == 1.0  # three documents: the gold one is always among them
    assert len(bpa["rows"]) == 5 and all(r["rank"] is not None for r in bpa["rows"])
    for key in ("recall@1", "mrr@10", "ndcg@10", "answer_hit", "first_line_hit", "declined_answerable"):
        assert 0.0 <= bpa[key] <= 1.0
    assert bpa["first_line_hit"] <= bpa["answer_hit"] <= 1 - bpa["declined_answerable"]
    assert sum(bpa["outcomes"].values()) == 5
    # Shown answers only: a declined question never counts as a hit, even when its composed answer held the span.
    assert all(r["answer_hit"] == (r["outcome"] == "answer" and r["would_hit"]) for r in bpa["rows"])
    # A second run over the unchanged set embeds nothing, and a limit draws a sample.
    again = external.evaluate(data, cache, "fake", limit=2, seed=3)
    assert again["ingest"]["embedded"] == 0 and again["asked"] == 2
