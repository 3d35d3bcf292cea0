"""The composer: verbatim lines, answer first, scored lexically and by each unit's cosine."""

from __future__ import annotations

import numpy as np

from assistant.answering.compose import Composed, compose
from assistant.answering.config import ComposeConfig
from assistant.answering.evidence import score_units
from assistant.answering.question import asked
from assistant.answering.retrieval import Scored
from index.models import Chunk
from index.textutil import analyze
from index.units import split_units

FILLER = " ".join(f"Item {i} do procedimento interno registrado pela equipe de suporte." for i in range(12))
TEXT = f"O prazo importa muito para todos os analistas. Responda em até dez dias úteis. {FILLER}"


def _passage(text: str = TEXT, rowid: int = 7, section: tuple[str, ...] = ("Manual", "Atendimento"),
             score: float = 3.0) -> Scored:  # fmt: skip
    chunk = Chunk(id=f"c{rowid}", document_id="d", ordinal=rowid, section_path=section, anchor=f"a{rowid}",
                  url=f"https://h/manual#a{rowid}", text=text)  # fmt: skip
    return Scored(rowid=rowid, chunk=chunk, score=score, dense=0.9, lexical=5.0)


def _compose(passages: list[Scored], question: str, cosines: dict[int, np.ndarray] | None = None,
             cfg: ComposeConfig | None = None) -> Composed:  # fmt: skip
    cfg = cfg or ComposeConfig()
    q = asked(question)
    return compose(score_units(passages, analyze(question), {}, cfg, cosines, q), cfg, q)


def _lead(cosines: dict[int, np.ndarray] | None, question: str = "qual o prazo?") -> str:
    return _compose([_passage()], question, cosines).lines[0].text


def test_without_unit_vectors_the_lexical_match_leads() -> None:
    assert _lead(None) == "O prazo importa muito para todos os analistas."


def test_unit_cosine_decides_between_lexically_equal_units() -> None:
    # "prazo" is in the first sentence, "respond" in the second: lexically a tie.
    question = "qual o prazo para responder?"
    n = len(split_units(TEXT))
    for best in (0, 1):
        cosines = np.full(n, 0.80)
        cosines[best] = 0.90
        assert _lead({7: cosines}, question) == split_units(TEXT)[best]


def test_cosines_that_do_not_match_the_units_are_ignored() -> None:
    assert _lead({7: np.array([0.1, 0.9])}) == "O prazo importa muito para todos os analistas."


def test_every_line_is_verbatim_from_its_passage_and_at_most_five() -> None:
    n = len(split_units(TEXT))
    composed = _compose([_passage()], "prazo dias", {7: np.linspace(0.7, 0.9, n)})
    assert 1 <= len(composed.lines) <= 5 and all(line.text in TEXT for line in composed.lines)


# --- answer first -------------------------------------------------------------------------------

INTERNAL = (
    "Quando o cliente interage no ticket mas está falando com o time interno, registre em interação interna. "
    "Se houver reincidência, realize contato telefônico com o cliente. "
    "Registre o contato com o cliente em interação interna e retorne ao status anterior. "
    "Recomenda-se que o registro seja feito em interações internas, e não públicas. "
    "A utilização de interação pública compromete o indicador de qualidade."
)
RULE = (
    "Se a interação do cliente não permitir o entendimento, fazer contato verbal. "
    "Como padrão estabelecido, em cada ticket, não deve haver mais do que 3 interações públicas, "
    "por escrito sem que haja contato telefônico com o cliente."
)


def test_the_rule_that_answers_a_count_question_leads_even_from_the_second_passage() -> None:
    # Retrieval ranks the internal-thread passage first; in document order its five lines
    # came before the rule. The question asks "how many": the line with the count leads.
    passages = [_passage(INTERNAL, 1, ("Guia", "Time interno"), 3.0), _passage(RULE, 2, ("Guia", "Observação"), 2.8)]
    composed = _compose(passages, "qtas interacoes publicas posso fazer sem ligar?")
    assert "3 interações públicas" in composed.lines[0].text
    assert composed.passages[composed.lines[0].passage].chunk.id == "c2"


STEPS = (
    "Acessar o ticket e validar se os artefatos enviados são suficientes.\n"
    "Entrar em contato com o cliente por telefone e ajustar o campo Impacto.\n"
    "Realizar a interação no ticket informando o horário do atendimento.\n"
    "Sinalizar o líder sobre falta de retorno de cliente que estava parado."
)
GENERIC = (
    "O atendimento ao cliente deve ser cordial. O cliente deve ser informado sobre o que fazer em cada etapa. "
    "Cliente insatisfeito deve ser ouvido com atenção e o que ele pede deve ser registrado."
)


def test_a_procedure_question_leads_with_a_step_and_the_group_follows_in_order() -> None:
    passages = [_passage(GENERIC, 1, ("Guia", "Atendimento"), 3.0), _passage(STEPS, 2, ("Guia", "Cliente parado"), 2.9)]
    n = {1: 3, 2: 4}
    cosines = {1: np.full(n[1], 0.80), 2: np.full(n[2], 0.90)}
    composed = _compose(passages, "cliente parado, o que faço?", cosines)
    steps = split_units(STEPS)
    lead = composed.lines[0]
    assert lead.text in steps
    group = [line.text for line in composed.lines if line.passage == lead.passage]
    # The lead, then the rest of the group in the document's order: nothing cut.
    assert group == [lead.text, *(s for s in steps if s != lead.text)]


LIST = (
    "Ao revisar o ticket, deverão ser observados os seguintes itens:\n"
    "• Se o ticket está com a marca TOTVS;\n• Se o catálogo está preenchido corretamente;\n"
    "• Se o release/versão está preenchido."
)


def test_an_announcement_never_leads_its_items_do() -> None:
    composed = _compose([_passage(LIST, 1, ("Guia", "Revisão"))], "quais itens devo observar ao revisar o ticket?")
    assert composed.lines[0].text == "Se o ticket está com a marca TOTVS;"
    assert all(not line.text.endswith(":") or line is not composed.lines[0] for line in composed.lines)


CAPTIONED = (
    "O First Call Resolution é a solução na primeira interação. "
    "Para mais informações sobre FCR e o que fazer no FCR, clique aqui."
)


def test_captions_never_lead() -> None:
    composed = _compose([_passage(CAPTIONED, 1, ("FAQ", "FCR"))], "FCR o que fazer no FCR mais informações?")
    assert composed.lines[0].text == "O First Call Resolution é a solução na primeira interação."
    assert not composed.lines[0].link


def test_a_passage_that_only_links_to_an_article_is_named_by_its_title() -> None:
    link = _passage("Artigo com informações sobre os status do ticket no Zendesk.", 1,
                    ("Links", "EC - ZEN - Quais os status de um ticket?"), 3.0)  # fmt: skip
    other = _passage("O status pendente é usado enquanto o cliente não responde.", 2, ("Guia", "Status"), 1.0)
    composed = _compose([link, other], "quais os status de um ticket no zendesk?")
    assert composed.lines[0].link and composed.lines[0].text == "EC - ZEN - Quais os status de um ticket?"
    assert composed.passages[composed.lines[0].passage].chunk.id == "c1"
    assert all("Artigo com" not in line.text for line in composed.lines)
