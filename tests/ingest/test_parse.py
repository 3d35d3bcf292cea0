"""Parser: the seed page as given, a Confluence page and a Help Center article."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.models import Document
from ingest.chunk import ChunkingConfig, chunk_document
from ingest.parse import ParseError, parse_document
from ingest.sources.base import RawDocument
from tests.support.common import FIXTURES, SEED


def _parse(path: Path, title: str | None = None, url: str = "https://exemplo.totvs.com/p") -> Document:
    raw = RawDocument(source="t", key=path.name, url=url, html=path.read_text(encoding="utf-8"), title=title)
    return parse_document(raw, "http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def seed() -> Document:
    return _parse(SEED, title="Boas Práticas do Suporte")


def _paths(doc: Document) -> list[tuple[str, ...]]:
    return [path for path, _ in doc.root.walk()]


def _section(doc: Document, last: str):
    for path, sec in doc.root.walk():
        if path[-1] == last:
            return sec
    raise AssertionError(f"no section titled {last!r}; have {[p[-1] for p in _paths(doc)]}")


def test_seed_has_no_css_or_layout_residue(seed: Document) -> None:
    chunks = chunk_document(seed, ChunkingConfig())
    assert len(chunks) > 50
    for c in chunks:
        for residue in ("#699AE7", "font-weight", "deck.tab", "<", "{", "ÍNDICE"):
            assert residue not in c.text, (residue, c.section)
            assert residue not in c.section, (residue, c.section)


def test_seed_numbered_headings_become_sections(seed: Document) -> None:
    titles = [p[-1] for p in _paths(seed)]
    assert "3 - Estrutura do atendimento de tickets" in titles
    assert "1.1.2 - O Processo de Boas Práticas | Perguntas Frequentes - FAQ" in titles
    assert "7. Avaliar seus GAPs na ferramenta" in titles


def test_seed_nested_step_groups_keep_their_path(seed: Document) -> None:
    paths = [p for p in _paths(seed) if p[-1] == "Cliente parado"]
    assert len(paths) == 2  # one under Introdução, one under Desenvolvimento
    assert {p[-3] for p in paths} == {"Introdução", "Desenvolvimento"}
    steps = _section(seed, "Caso seja final de expediente").blocks
    assert steps and "People Lead" in steps[0].text


def test_indented_labels_open_a_section_for_the_lines_at_their_indent() -> None:
    text = (
        "Cenários\n\n"
        "  1. Customizado:\n"
        "    1. Solicite o mesmo processo num ambiente sem customizações.\n"
        "      Exemplos:\n"
        '      "Pode me dar mais detalhes?"\n'
        "      Observação:\n"
        "      Não faça mais do que 3 interações públicas sem contato telefônico.\n"
        "  2. Performance:\n"
        "    • Verifique se o ambiente está atualizado.\n"
    )
    raw = RawDocument(source="t", key="k", url="https://h/p", html=text, title="Manual")
    doc = parse_document(raw, "http://127.0.0.1:8000")
    paths = {path[-1]: path for path in _paths(doc)}
    assert paths["Observação"][-2:] == ("Customizado", "Observação") and paths["Exemplos"][-2] == "Customizado"
    assert [b.text for b in _section(doc, "Observação").blocks] == [
        "Não faça mais do que 3 interações públicas sem contato telefônico."
    ]
    assert [b.text for b in _section(doc, "Exemplos").blocks] == ['"Pode me dar mais detalhes?"']
    assert "Verifique" in _section(doc, "Performance").blocks[0].text  # the label closed with its group


def test_seed_public_interaction_rule_has_its_own_chunk(seed: Document) -> None:
    [chunk] = [c for c in chunk_document(seed, ChunkingConfig()) if "3 interações públicas" in c.text]
    assert chunk.section_path[-2:] == ("Customizado", "Observação")
    assert "Para garantir que a ocorrência" not in chunk.text


def test_seed_faq_questions_are_sections_with_their_answer(seed: Document) -> None:
    faq = _section(seed, "Qual prazo de finalização?")
    text = " ".join(b.text for b in faq.blocks)
    assert "medido pelo SLA" in text
    assert "Qual status" not in text  # the next question is its own section


def test_seed_work_instruction_entries_are_separate(seed: Document) -> None:
    entry = _section(seed, "EC - ZEN - Prazo de SLA de Atendimento")
    assert [b.text for b in entry.blocks] == ["Artigo com informações sobre os prazos de SLA de atendimento."]
    manual = _section(seed, "Manual Zendesk")
    assert "procedimentos necessários" in manual.blocks[0].text


def test_seed_quoted_example_messages_are_kept(seed: Document) -> None:
    chunks = chunk_document(seed, ChunkingConfig())
    assert any("Olá [nome cliente], eu sou o analista [seu nome]" in c.text for c in chunks)


def test_seed_top_index_list_is_dropped(seed: Document) -> None:
    first = seed.root.blocks[0].text
    assert first.startswith("Aqui estão informações")
    assert not any("1.3 - Zendesk" in b.text for _, s in seed.root.walk() for b in s.blocks)


def test_confluence_page() -> None:
    doc = _parse(FIXTURES / "confluence_page.html", url="https://tdn.totvs.com/x/abc")
    assert doc.title == "Processo de Transferência de Tickets"
    assert doc.breadcrumbs == ["Suporte", "Processos de Atendimento"]
    chunks = chunk_document(doc, ChunkingConfig())
    text = "\n".join(c.text for c in chunks)
    assert "Powered by Atlassian" not in text and "Menu TDN" not in text  # chrome dropped
    assert "Quando transferir\nComo transferir" not in text  # toc dropped
    assert "Tickets do time de JOI exigem ticket filho." in text  # info macro kept
    assert "MACRO: O3 | Transferência Manutenção" in text  # code macro kept
    assert "Manutenção — 2 dias úteis" in text  # table rows kept
    by_title = {c.section_path[-1]: c for c in chunks}
    quando = by_title["Quando transferir"]
    assert quando.section_path[:3] == ("Suporte", "Processos de Atendimento", doc.title)
    assert quando.url == "https://tdn.totvs.com/x/abc#ProcessodeTransferência-Quandotransferir"
    assert "O cliente é avisado automaticamente" in by_title["Perguntas frequentes sobre transferência"].text


def test_helpcenter_article() -> None:
    doc = _parse(FIXTURES / "helpcenter_article.html")
    assert doc.title == "Como solicitar a priorização de um ticket"
    chunks = chunk_document(doc, ChunkingConfig())
    sections = [c.section_path[-1] for c in chunks]
    assert sections == ["Dúvida", "Solução"]
    assert "© TOTVS" not in "".join(c.text for c in chunks)
    solucao = chunks[1]
    assert "Informe a justificativa do impacto no negócio." in solucao.text
    assert solucao.url.startswith("https://exemplo.totvs.com/p#:~:text=Solu")


@pytest.mark.parametrize(
    ("html", "reason"),
    [("", "vazia"), ("   \n ", "vazia"), ("<html><body><style>p{}</style></body></html>", "nenhum texto")],
)
def test_unusable_pages_raise_with_reason(html: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_document(RawDocument(source="t", key="k", url="", html=html), "http://x")


def test_document_without_url_links_to_bpa_rendering() -> None:
    doc = parse_document(
        RawDocument(source="s", key="a.html", url="", html="<h1>T</h1><p>texto</p>"), "http://bpa:8000/"
    )
    assert doc.url == f"http://bpa:8000/d/{doc.id}"


def test_seed_numbered_heading_ends_the_faq_item(seed: Document) -> None:
    paths = {p[-1]: p for p in _paths(seed)}
    assert paths["1.1.6 - Processo de Suporte Integrado"][-2] != "O que é o ESN?"
    assert not any("O que é o ESN?" in p[:-1] for p in _paths(seed))
    assert [b.text for b in _section(seed, "O que é o ESN?").blocks] == ["Executivo de Soluções e Negócios."]


def test_numbered_headings_never_nest_under_a_faq_item() -> None:
    text = (
        "Guia\n\n"
        "1 - Atendimento.\n\nTexto do atendimento.\n\n"
        "  • Quem é o ESN?\n\nO executivo de negócios.\n\n"
        "1.1 - Processo integrado.\nFluxo do processo integrado.\n"
    )
    doc = parse_document(RawDocument(source="t", key="k", url="", html=text, title="Guia"), "http://x")
    paths = {p[-1]: p for p in _paths(doc)}
    assert paths["Quem é o ESN?"][-2:] == ("1 - Atendimento", "Quem é o ESN?")
    assert paths["1.1 - Processo integrado"][-2:] == ("1 - Atendimento", "1.1 - Processo integrado")
    assert [b.text for b in _section(doc, "Quem é o ESN?").blocks] == ["O executivo de negócios."]


def test_seed_glued_table_header_cells_are_separate_words(seed: Document) -> None:
    titles = [p[-1] for p in _paths(seed)]
    assert "INSTRUÇÃO DE TRABALHO DESCRIÇÃO" in titles
    chunks = chunk_document(seed, ChunkingConfig())
    assert not any("TRABALHODESCRIÇÃO" in c.section for c in chunks)
    assert any(c.section_path[-2:] == ("INSTRUÇÃO DE TRABALHO DESCRIÇÃO", "Manual Zendesk") for c in chunks)


def test_glued_header_is_split_only_where_both_parts_are_words_of_the_page() -> None:
    text = (
        "Tabela de artigos sobre o atendimento: cada artigo tem um título e uma descrição.\n\n"
        "LISTA DE ARTIGOTITULO\n\n"  # 'artigotitulo' is not a word, but 'artigo' and 'titulo' are
        "LISTA DE ATENDIMENTOPRIORITARIO\n\n"  # 'prioritario' is not a word of the page: left alone
        "Manual Zendesk.\n\n\nDocumento do Zendesk.\nEC - ZEN - Prazo.\nArtigo sobre prazos.\n"
        "EC - ZEN - Status.\nArtigo sobre status.\n"
    )
    doc = parse_document(RawDocument(source="t", key="k", url="", html=text, title="Artigos"), "http://x")
    titles = [p[-1] for p in _paths(doc)]
    assert "LISTA DE ARTIGO TITULO" in titles and "LISTA DE ATENDIMENTOPRIORITARIO" in titles


def test_seed_own_rendering_gets_a_unique_id_per_section() -> None:
    doc = _parse(SEED, title="Boas Práticas do Suporte", url="")
    sections = [(p, s) for p, s in doc.root.walk() if s is not doc.root]
    anchors = [s.anchor for _, s in sections]
    assert all(anchors) and len(set(anchors)) == len(anchors)
    assert not any(a.startswith(":~:") for a in anchors)
    parados = [s.anchor for p, s in sections if p[-1] == "Cliente parado"]
    assert len(parados) == 2 and parados[0] != parados[1]
    for chunk in chunk_document(doc, ChunkingConfig()):
        if chunk.anchor:
            assert chunk.url == f"{doc.url}#{chunk.anchor}"


def test_seed_public_page_links_tell_repeated_headings_apart(seed: Document) -> None:
    from urllib.parse import unquote

    by_parent = {p[-3]: unquote(s.anchor) for p, s in seed.root.walk() if p[-1] == "Cliente parado"}
    intro, dev = by_parent["Introdução"], by_parent["Desenvolvimento"]
    assert intro != dev
    # Each names its own heading and the words that follow it on the page.
    assert intro.startswith(":~:text=1. Cliente parado:,-") and "Acessar o ticket" in intro
    assert dev.startswith(":~:text=1. Cliente parado:,-") and "Caso seja pontual" in dev
    # A heading that occurs once on the page needs no context.
    assert unquote(_section(seed, "Caso seja final de expediente").anchor) == (
        ":~:text=2. Caso seja final de expediente:"
    )
