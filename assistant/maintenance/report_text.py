"""The gap report as Markdown, and its glossary candidates as glossary.toml lines.

User text is masked again here (defence in depth: the store already holds it masked).
"""

from __future__ import annotations

from assistant.kcs import REASON_LABELS
from assistant.maintenance.report import GapReport, GlossaryCandidate, SectionRef
from assistant.maintenance.report_kcs import KcsReport, KcsSection
from assistant.privacy import mask_pii
from index.textutil import collapse_ws


def _t(text: str | None) -> str:
    """User or document text for a Markdown cell: masked, one line, pipes escaped."""
    return collapse_ws(mask_pii(text or "")).replace("|", "\\|")


def _ref(s: SectionRef, with_count: bool = False) -> str:
    count = f" ({s.count})" if with_count else ""
    return f"[{_t(s.title)} › {_t(s.section)}]({s.url}){count}"


def render_markdown(report: GapReport) -> str:
    t = report.totals
    lines = [
        "# Relatório de lacunas da documentação",
        "",
        f"Período: últimos {report.period} (desde {report.since}) · snapshot {report.snapshot} · "
        f"gerado em {report.generated_at}",
        "",
        f"- perguntas: {t.questions} (sem resposta: {t.abstained})",
        f"- avaliações: {t.helpful} 👍, {t.unhelpful} 👎",
        "",
        "## Perguntas sem resposta, por assunto",
        "",
    ]
    for n, g in enumerate(report.gaps, 1):
        lines.append(f"### Grupo {n}: {g.size} pergunta(s)")
        lines.extend(f"- {_t(e)}" for e in g.examples)
        if g.nearest:
            lines.append("")
            lines.append("Seções mais próximas oferecidas: " + "; ".join(_ref(s, True) for s in g.nearest))
        lines.append("")
    if not report.gaps:
        lines += ["Nenhuma pergunta sem resposta no período.", ""]
    lines += ["## Respostas marcadas 👎", ""]
    if report.unhelpful:
        lines += ["| quando | canal | pergunta | seções citadas | comentário |", "|---|---|---|---|---|"]
        for u in report.unhelpful:
            cited = "; ".join(_ref(s) for s in u.cited) or "(sem resposta)"
            lines.append(f"| {u.at} | {u.channel} | {_t(u.question)} | {cited} | {_t(u.comment)} |")
    else:
        lines.append("Nenhum 👎 no período.")
    lines += ["", "## Seções mais citadas", ""]
    lines += [f"- {_ref(s, True)}" for s in report.most_cited] or ["Nenhuma citação no período."]
    lines += ["", f"## Seções nunca citadas no período ({len(report.never_cited)})", ""]
    lines += [f"- {_ref(s)}" for s in report.never_cited]
    lines += ["", f"## Documentos desatualizados (mais de {report.stale_after_days} dias)", ""]
    lines += [f"- [{_t(d.title)}]({d.url}) — {d.source}, {d.owner or 'sem dono'}: {d.days} dias" for d in report.stale]
    if not report.stale:
        lines.append("Nenhum documento desatualizado.")
    if report.undated_documents:
        lines.append(f"{report.undated_documents} documento(s) sem data de atualização na fonte.")
    lines += ["", "## Candidatos ao glossário", ""]
    lines += [f"- `{c.term}`: {c.questions} pergunta(s)" for c in report.glossary] or ["Nenhum candidato."]
    lines += ["", "## Por fonte e dono", "",
              "| fonte | dono | documentos | desatualizados | citações | 👎 | lacunas | seções nunca citadas |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for o in report.owners:
        lines.append(
            f"| {o.source} | {_t(o.owner or '—')} | {o.documents} | {o.stale} | {o.citations} | {o.unhelpful} "
            f"| {o.gaps} | {o.never_cited} |"
        )
    lines += ["", *kcs_markdown(report.kcs)]
    lines += ["", *report.notes]
    return "\n".join(lines) + "\n"


def _kcs_ref(s: KcsSection) -> str:
    return f"[{_t(s.title)} › {_t(s.section)}]({s.url})"


def kcs_markdown(kcs: KcsReport) -> list[str]:
    """The Zendesk sidebar's part: link rate, reuse per section, flags, suggested but never linked."""
    rate = f"{100 * kcs.link_rate:.0f}%" if kcs.link_rate is not None else "—"
    lines = [
        "## Uso no Zendesk (KCS)",
        "",
        f"- taxa de links: {rate} ({kcs.tickets_linked} de {kcs.tickets_opened} ticket(s) com o app aberto "
        "receberam um link ou trecho)",
        f"- links inseridos: {kcs.links} · trechos inseridos: {kcs.quotes} · sinalizações: {kcs.flags}",
        "",
        "### Reuso por seção",
        "",
    ]
    if kcs.reuse:
        lines += ["| seção | links | trechos | sugerida em |", "|---|---|---|---|"]
        lines += [f"| {_kcs_ref(u.section)} | {u.links} | {u.quotes} | {u.suggested} |" for u in kcs.reuse]
    else:
        lines.append("Nenhuma seção linkada ou citada em tickets no período.")
    lines += ["", "### Seções sinalizadas", ""]
    if kcs.flagged:
        lines += ["| seção | sinalizações | motivos | comentários |", "|---|---|---|---|"]
        for f in kcs.flagged:
            reasons = ", ".join(f"{REASON_LABELS.get(r, r).lower()}: {n}" for r, n in f.reasons.items())
            comments = "; ".join(_t(c) for c in f.comments)
            lines.append(f"| {_kcs_ref(f.section)} | {f.flags} | {reasons} | {comments} |")
    else:
        lines.append("Nenhuma seção sinalizada no período.")
    lines += ["", "### Sugeridas com frequência, nunca linkadas", ""]
    lines += [f"- {_kcs_ref(u.section)}: sugerida em {u.suggested} ticket(s)" for u in kcs.unlinked] or ["Nenhuma."]
    if kcs.dropped:
        lines += ["", f"{kcs.dropped} registro(s) de seções que não estão mais no índice servido foram omitidos."]
    return lines


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def glossary_toml(candidates: list[GlossaryCandidate], period: str) -> str:
    """The candidates as ``[expand]`` lines of corpus/glossary.toml, with empty expansions for
    the maintainer to fill in; valid TOML as printed, but nothing is written anywhere."""
    lines = [
        f"# Candidatos ao glossário: palavras de perguntas sem resposta (últimos {period}) que não",
        "# aparecem em nenhum trecho. Revise, preencha com as palavras da documentação e copie as",
        "# linhas que fizerem sentido para corpus/glossary.toml. Nada foi adicionado automaticamente.",
        "[expand]",
    ]
    if not candidates:
        lines.append("# (nenhum candidato no período)")
    for c in candidates:
        example = collapse_ws(mask_pii(c.examples[0])) if c.examples else ""
        example = "".join(ch for ch in example if ch.isprintable())  # TOML comments forbid control chars
        key = c.term if c.term.replace("_", "").isalnum() and c.term.isascii() else _toml_string(c.term)
        lines.append(f"{key} = []  # {c.questions} pergunta(s), ex.: {_toml_string(example)}")
    return "\n".join(lines) + "\n"
