"""The maintainers' loop end to end (issue 13, items 1 and 4): analysts ask through the API
and Slack, some questions go unanswered, 👎 arrive through the API and a Slack button, and
`bpa report` / GET /v1/admin/report / `bpa glossary suggest` turn that into a to-do list.

Default corpus, fake embedder (bag of hashed words): the questions below are built so that
each topic shares its distinctive words, which is what groups them under that embedder.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from assistant.http.app import create_app
from assistant.maintenance.report import GapReporter
from assistant.service import Assistant
from bpa.cli import EXIT_CONFIG, EXIT_FAILED, app
from index.embedding.factory import make_embedder
from index.settings import Settings
from index.textutil import fold
from ingest.pipeline import run_ingest
from slack_app import blocks
from tests.support.common import SEED
from tests.support.slack import MockSlackServer
from tests.support.slack_harness import SlackHarness, mention

TOKEN = "segredo-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Cosine distance that groups questions sharing their topic words under the fake embedder
# (its vectors are far apart; 0.10 is e5's value).
FAKE_GROUP_DISTANCE = "0.8"
BOLETO = ["como emitir boleto pix no faturamento?", "boleto pix do faturamento foi rejeitado"]
BOLETO_SLACK = "boleto pix faturamento duplicado"
IMPRESSORA = ["impressora fiscal sat não imprime cupom", "erro na impressora fiscal sat ao imprimir cupom"]
ANSWERED = ["O que é o ESN?", "qual o prazo do SLA de um ticket crítico?"]
COMMENT = "não ajudou, me liga no 11 98765-4321 ou joao.silva@empresa.com.br"


@dataclass
class Loop:
    settings: Settings
    assistant: Assistant
    api: TestClient
    slack: SlackHarness
    mock: MockSlackServer


@pytest.fixture
def loop(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    monkeypatch.setenv("BPA_EMBEDDER", "fake")  # the CLI builds its own settings
    monkeypatch.setenv("BPA_REPORT_GROUP_DISTANCE", FAKE_GROUP_DISTANCE)
    monkeypatch.setenv("BPA_SOURCES", str(settings.sources))
    monkeypatch.setenv("BPA_GLOSSARY", str(settings.glossary))
    s = settings.model_copy(
        update={
            "admin_token": TOKEN,
            "report_group_distance": float(FAKE_GROUP_DISTANCE),
            "slack_bot_token": "xoxb-test-token",
            "slack_signing_secret": "test-signing-secret",
        }
    )
    embedder = make_embedder(s)
    run_ingest(s, embedder)
    assistant = Assistant(s, embedder)
    with MockSlackServer() as mock:
        s = s.model_copy(update={"slack_api_url": mock.api_url})
        harness = SlackHarness(assistant, s, mock)  # type: ignore[arg-type]  # the real assistant, not the fake
        api = TestClient(create_app(s, assistant, reporter=GapReporter(s, assistant)))
        yield Loop(s, assistant, api, harness, mock)
        harness.settle()


def ask(loop: Loop, question: str) -> dict[str, Any]:
    response = loop.api.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return dict(response.json())


def ask_in_slack(loop: Loop, question: str) -> str:
    """Mention the bot; returns the answer id its 👎 button carries."""
    before = len(loop.mock.calls_to("chat.postMessage"))
    loop.slack.event(mention(f"<@UBOT0001> {question}"))
    posts = loop.mock.wait_for("chat.postMessage", count=before + 1)
    [actions] = [b for b in posts[-1].body["blocks"] if b.get("type") == "actions"]
    [button] = [e for e in actions["elements"] if e["action_id"] == blocks.FEEDBACK_UNHELPFUL]
    return str(button["value"])


def click_unhelpful(loop: Loop, answer_id: str) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0000TEST", "domain": "bpa-test"},
        "user": {"id": "UASKER01", "username": "analista", "team_id": "T0000TEST"},
        "api_app_id": "A0000TEST",
        "token": "legacy",
        "trigger_id": "123.456.def",
        "channel": {"id": "CGENERAL1", "name": "geral"},
        "container": {"type": "message", "channel_id": "CGENERAL1", "is_ephemeral": True},
        "response_url": loop.mock.response_url("fb-report"),
        "actions": [
            {
                "type": "button",
                "action_id": blocks.FEEDBACK_UNHELPFUL,
                "block_id": blocks.ACTIONS_BLOCK_ID,
                "value": answer_id,
                "action_ts": "1700000200.000001",
            }
        ],
    }
    assert loop.slack.interaction(payload).status_code == 200
    [reply] = loop.mock.wait_for("response:fb-report")
    assert "não foi registrado" not in json.dumps(reply.body, ensure_ascii=False)


def corpus_words() -> set[str]:
    return set(re.findall(r"\w+", fold(SEED.read_text(encoding="utf-8"))))


def test_the_report_turns_usage_into_a_to_do_list(loop: Loop) -> None:
    answers = {q: ask(loop, q) for q in [*BOLETO, *IMPRESSORA, *ANSWERED]}
    # The scenario needs these outcomes; if the pipeline ever answers them, pick other topics.
    assert all(answers[q]["abstained"] for q in BOLETO + IMPRESSORA)
    assert not any(answers[q]["abstained"] for q in ANSWERED)

    esn = answers[ANSWERED[0]]
    assert loop.api.post(
        "/v1/feedback", json={"answer_id": esn["answer_id"], "helpful": False, "comment": COMMENT}
    ).status_code in (200, 201)
    sla = answers[ANSWERED[1]]
    helpful = loop.api.post("/v1/feedback", json={"answer_id": sla["answer_id"], "helpful": True})
    assert helpful.status_code in (200, 201)
    slack_answer = ask_in_slack(loop, BOLETO_SLACK)
    [slack_row] = [r for r in loop.assistant.state.questions() if r["answer_id"] == slack_answer]
    assert slack_row["channel"] == "slack" and slack_row["abstained"]
    click_unhelpful(loop, slack_answer)

    result = CliRunner().invoke(app, ["report", "--format", "json", "--since", "1d"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    # Totals: every question asked, through either edge.
    assert report["totals"] == {"questions": 7, "answered": 2, "abstained": 5, "helpful": 1, "unhelpful": 2}
    assert [d["questions"] for d in report["days"]][-1] == 7

    # Gap groups: one per topic, with its size and its own questions as examples.
    groups = {frozenset(g["examples"]): g for g in report["gaps"]}
    boleto = groups[frozenset([*BOLETO, BOLETO_SLACK])]
    impressora = groups[frozenset(IMPRESSORA)]
    assert (boleto["size"], impressora["size"]) == (3, 2)
    assert len(report["gaps"]) == 2
    for group in (boleto, impressora):
        assert 1 <= len(group["nearest"]) <= 3
        assert all(s["url"].startswith(loop.settings.public_url) for s in group["nearest"])

    # 👎 answers: the API one with its cited sections and its (masked) comment; the Slack one.
    unhelpful = {u["channel"]: u for u in report["unhelpful"]}
    assert set(unhelpful) == {"api", "slack"}
    api_vote = unhelpful["api"]
    assert api_vote["question"] == ANSWERED[0] and not api_vote["abstained"]
    assert {s["document_id"] for s in api_vote["cited"]} == {c["document_id"] for c in esn["citations"]}
    assert api_vote["cited"]
    assert "98765" not in api_vote["comment"] and "joao.silva" not in api_vote["comment"]
    assert "[TELEFONE]" in api_vote["comment"] and "[EMAIL]" in api_vote["comment"]
    assert unhelpful["slack"]["question"] == BOLETO_SLACK and unhelpful["slack"]["abstained"]

    # Sections: the cited ones lead "most cited" and are missing from "never cited".
    cited_sections = {s["section"] for a in (esn, sla) for s in a["citations"]}
    most = {s["section"]: s["count"] for s in report["most_cited"]}
    assert set(most) == cited_sections
    never = {s["section"] for s in report["never_cited"]}
    assert never and not (never & cited_sections)

    # Glossary candidates: the words of each topic, counted per unanswered question, none
    # of them in the documentation.
    candidates = {c["term"]: c["questions"] for c in report["glossary"]}
    assert candidates["boleto"] == 3 and candidates["pix"] == 3
    assert candidates["impressora"] == 2 and candidates["cupom"] == 2
    assert not set(candidates) & corpus_words()
    assert "esn" not in candidates  # answered questions are not gaps

    # Per source: the default corpus has one source and no owner field.
    [owner] = report["owners"]
    assert owner["source"] == "boas-praticas" and owner["owner"] is None
    assert owner["gaps"] == 5 and owner["unhelpful"] == 1
    assert owner["never_cited"] == len(report["never_cited"])
    # The files source gives no update date: nothing is stale, and the report says why.
    assert report["stale"] == [] and report["undated_documents"] == 1

    # The admin API serves the same report (its JSON and its page).
    via_api = loop.api.get("/v1/admin/report", params={"since": "1d"}, headers=AUTH)
    assert via_api.status_code == 200
    assert via_api.json()["totals"] == report["totals"]
    page = loop.api.get("/v1/admin/report", params={"since": "1d", "format": "html"}, headers=AUTH)
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.text.count("<svg") == 3 and "98765" not in page.text

    # Item 4: the candidates as glossary.toml lines, nothing written.
    glossary_before = loop.settings.glossary.read_bytes()
    suggested = CliRunner().invoke(app, ["glossary", "suggest", "--since", "1d"])
    assert suggested.exit_code == 0, suggested.output
    table = tomllib.loads(suggested.stdout)["expand"]
    assert set(table) == set(candidates) and all(v == [] for v in table.values())
    assert loop.settings.glossary.read_bytes() == glossary_before


def test_report_input_errors_are_named(loop: Loop) -> None:
    bad = loop.api.get("/v1/admin/report", params={"since": "semana"}, headers=AUTH)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "since" and "7d" in bad.json()["error"]["message"]
    assert loop.api.get("/v1/admin/report").status_code == 401
    for args in (["report", "--since", "0d"], ["report", "--format", "pdf"], ["glossary", "suggest", "--since", "x"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == EXIT_CONFIG, args
        assert "inválido" in result.output and "Traceback" not in result.output


def test_report_to_a_file(loop: Loop, tmp_path: Any) -> None:
    ask(loop, BOLETO[0])
    target = tmp_path / "relatorio.md"
    result = CliRunner().invoke(app, ["report", "--format", "md", "--out", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Relatório de lacunas") and BOLETO[0] in text
    unwritable = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "falta" / "r.html")])
    assert unwritable.exit_code == EXIT_FAILED
    assert "o diretório não existe" in unwritable.output and "Traceback" not in unwritable.output


def test_glossary_suggest_output_is_valid_toml_the_glossary_loads(tmp_path: Any) -> None:
    from assistant.answering.glossary import Glossary
    from assistant.maintenance.report import GlossaryCandidate
    from assistant.maintenance.report_text import glossary_toml

    text = glossary_toml(
        [GlossaryCandidate(term="nfe", questions=2, examples=['nota "fiscal"\\ca\tda\x07 do cpf [CPF]'])], "7d"
    )
    path = tmp_path / "g.toml"
    path.write_text(text, encoding="utf-8")
    assert tomllib.loads(text) == {"expand": {"nfe": []}}
    assert Glossary.load(path).expand("nfe") == []
