"""The gap report as one self-contained HTML page: inline CSS, charts as inline SVG.

The charts are drawn by matplotlib's object API (a Figure per chart, no pyplot state, so
concurrent requests do not share anything) and saved as SVG with the text as paths: the
page needs no font, script or request of its own. Every text that came from a user is
masked again here, as a last line of defence.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from html import escape

import matplotlib

matplotlib.use("Agg")  # no display: also the backend a server must use

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from assistant.kcs import REASON_LABELS
from assistant.maintenance.report import GapReport, SectionRef
from assistant.maintenance.report_kcs import KcsReport, KcsSection
from assistant.privacy import mask_pii

_BLUE, _RED, _GREEN, _GREY = "#1f5fa8", "#c0392b", "#2e8b57", "#777777"
_CHART_LABEL = 48  # characters of a group's example shown as its bar's label
_TOP_GAPS = 10

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta,.note{color:#555}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;min-width:140px}
.card b{display:block;font-size:1.6em}.chart{background:#fff;border:1px solid #ddd;border-radius:8px;
padding:8px;margin:12px 0}.chart svg{width:100%;height:auto}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #ddd;padding:6px 8px;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right}
.group{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:12px 0}
pre{background:#fff;border:1px solid #ddd;padding:12px;overflow:auto}
"""


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML


def _figure(height: float = 3.2) -> Figure:
    fig = Figure(figsize=(10, height))
    fig.set_layout_engine("constrained")
    return fig


def _counts(ax: Axes) -> None:
    """A count axis: whole numbers from zero."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0, top=max(1.0, ax.get_ylim()[1]))


def chart_questions(report: GapReport) -> str:
    """Questions per day (bars) and the share left unanswered (line, right axis)."""
    days = [d.day[5:] for d in report.days]
    fig = _figure()
    ax = fig.add_subplot()
    bars = ax.bar(days, [d.questions for d in report.days], color=_BLUE, label="perguntas")
    ax.set_ylabel("perguntas por dia")
    _counts(ax)
    rate = ax.twinx()
    [line] = rate.plot(
        days, [100 * d.abstention_rate for d in report.days], color=_RED, marker="o", label="% sem resposta"
    )
    rate.set_ylim(0, 105)
    rate.set_ylabel("% sem resposta")
    ax.set_title("Perguntas e abstenção por dia (UTC)")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(handles=[bars, line], loc="upper left", framealpha=0.9)
    return _svg(fig)


def chart_feedback(report: GapReport) -> str:
    days = [d.day[5:] for d in report.days]
    positions = range(len(days))
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar([p - 0.2 for p in positions], [d.helpful for d in report.days], width=0.4, color=_GREEN, label="útil")
    ax.bar([p + 0.2 for p in positions], [d.unhelpful for d in report.days], width=0.4, color=_RED, label="não ajudou")
    ax.set_xticks(list(positions), days, rotation=45)
    _counts(ax)
    ax.set_title("Avaliações por dia (UTC)")
    ax.legend()
    return _svg(fig)


def chart_gaps(report: GapReport) -> str:
    top = report.gaps[:_TOP_GAPS]
    labels = [_short(mask_pii(g.examples[0]) if g.examples else "?") for g in top]
    fig = _figure(max(2.0, 0.45 * len(top) + 1))
    ax = fig.add_subplot()
    ax.barh(range(len(top)), [g.size for g in top], color=_GREY)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(range(len(top)), labels)
    ax.invert_yaxis()  # the largest group on top
    ax.set_xlabel("perguntas sem resposta")
    ax.set_title("Maiores lacunas (grupos de perguntas parecidas)")
    return _svg(fig)


def chart_reuse(kcs: KcsReport) -> str:
    """Links and quotes per section (the most reused on top)."""
    top = kcs.reuse[:_TOP_GAPS]
    labels = [_short(f"{u.section.title} › {u.section.section}") for u in top]
    positions = range(len(top))
    fig = _figure(max(2.0, 0.45 * len(top) + 1))
    ax = fig.add_subplot()
    ax.barh([p - 0.2 for p in positions], [u.links for u in top], height=0.4, color=_BLUE, label="links")
    ax.barh([p + 0.2 for p in positions], [u.quotes for u in top], height=0.4, color=_GREEN, label="trechos")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    ax.set_xlabel("tickets")
    ax.set_title("Reuso das seções em tickets (links e trechos inseridos pelo app do Zendesk)")
    ax.legend()
    return _svg(fig)


def _kcs_link(s: KcsSection) -> str:
    return f'<a href="{escape(s.url, quote=True)}">{_t(s.title)} › {_t(s.section)}</a>'


def kcs_html(kcs: KcsReport) -> list[str]:
    """The Zendesk sidebar's part: link rate, reuse per section (with a chart), flags, and the
    sections suggested often but never linked."""
    rate = f"{100 * kcs.link_rate:.0f}%" if kcs.link_rate is not None else "—"
    cards = "".join(
        f'<div class="card"><b>{value}</b>{label}</div>'
        for value, label in (
            (rate, f"taxa de links ({kcs.tickets_linked} de {kcs.tickets_opened} tickets)"),
            (kcs.links, "links inseridos"),
            (kcs.quotes, "trechos inseridos"),
            (kcs.flags, "sinalizações"),
        )
    )
    parts = [
        '<h2 id="kcs">Uso no Zendesk (KCS)</h2>',
        '<p class="note">Taxa de links: tickets que receberam um link ou trecho de uma seção, entre os '
        "tickets em que o app do Zendesk foi aberto.</p>",
        f'<div class="cards">{cards}</div>',
        "<h3>Reuso por seção</h3>",
    ]
    if kcs.reuse:
        parts.append('<div class="chart">' + chart_reuse(kcs) + "</div>")
        rows = [[_kcs_link(u.section), str(u.links), str(u.quotes), str(u.suggested)] for u in kcs.reuse]
        parts.append(_table(["seção", "links", "trechos", "sugerida em (tickets)"], rows, {1, 2, 3}))
    else:
        parts.append('<p class="note">Nenhuma seção linkada ou citada em tickets no período.</p>')
    parts.append("<h3>Seções sinalizadas</h3>")
    if kcs.flagged:
        rows = [
            [
                _kcs_link(f.section),
                str(f.flags),
                "<br>".join(f"{escape(REASON_LABELS.get(r, r))}: {n}" for r, n in f.reasons.items()),
                "<br>".join(_t(c) for c in f.comments),
            ]
            for f in kcs.flagged
        ]
        parts.append(_table(["seção", "sinalizações", "motivos", "comentários"], rows, {1}))
    else:
        parts.append('<p class="note">Nenhuma seção sinalizada no período.</p>')
    parts.append("<h3>Sugeridas com frequência, nunca linkadas</h3>")
    parts.append(
        _list(
            (f"{_kcs_link(u.section)} <small>(sugerida em {u.suggested} tickets)</small>" for u in kcs.unlinked),
            "Nenhuma.",
        )
    )
    if kcs.dropped:
        parts.append(
            f'<p class="note">{kcs.dropped} registro(s) de seções que não estão mais no índice servido '
            "foram omitidos.</p>"
        )
    return parts


def _short(text: str) -> str:
    return text if len(text) <= _CHART_LABEL else text[: _CHART_LABEL - 1] + "…"


def _t(text: str | None) -> str:
    """User or document text, masked and escaped."""
    return escape(mask_pii(text or ""))


def _link(s: SectionRef, with_count: bool = False) -> str:
    count = f" <small>({s.count})</small>" if with_count else ""
    return f'<a href="{escape(s.url, quote=True)}">{_t(s.title)} › {_t(s.section)}</a>{count}'


def _list(items: Iterable[str], empty: str) -> str:
    rows = "".join(f"<li>{item}</li>" for item in items)
    return f"<ul>{rows}</ul>" if rows else f'<p class="note">{empty}</p>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: GapReport) -> str:
    t = report.totals
    rate = f"{100 * t.abstained / t.questions:.0f}%" if t.questions else "—"
    cards = "".join(
        f'<div class="card"><b>{value}</b>{label}</div>'
        for value, label in (
            (t.questions, "perguntas"),
            (t.abstained, f"sem resposta ({rate})"),
            (t.helpful, "👍 úteis"),
            (t.unhelpful, "👎 não ajudaram"),
            (len(report.stale), "documentos desatualizados"),
        )
    )
    parts = [
        f"<h1>Relatório de lacunas da documentação</h1>"
        f'<p class="meta">Período: últimos {escape(report.period)} (desde {escape(report.since)}) · '
        f"snapshot {escape(report.snapshot)} · gerado em {escape(report.generated_at)}</p>",
        f'<div class="cards">{cards}</div>',
        '<h2>Uso</h2><div class="chart">' + chart_questions(report) + "</div>",
        '<div class="chart">' + chart_feedback(report) + "</div>",
        "<h2>Perguntas sem resposta, por assunto</h2>",
    ]
    if report.gaps:
        parts.append('<div class="chart">' + chart_gaps(report) + "</div>")
        for n, g in enumerate(report.gaps, 1):
            examples = _list((_t(e) for e in g.examples), "")
            nearest = _list((_link(s, True) for s in g.nearest), "Nenhuma seção próxima.")
            parts.append(
                f'<div class="group"><h3>Grupo {n}: {g.size} pergunta(s)</h3>{examples}'
                f"<p>Seções mais próximas oferecidas:</p>{nearest}</div>"
            )
    else:
        parts.append('<p class="note">Nenhuma pergunta sem resposta no período.</p>')
    parts.append("<h2>Respostas marcadas 👎</h2>")
    parts.append(
        _table(
            ["quando", "canal", "pergunta", "seções citadas", "comentário"],
            [
                [
                    escape(u.at),
                    escape(u.channel),
                    _t(u.question),
                    "<br>".join(_link(s) for s in u.cited) or "(sem resposta: nada citado)",
                    _t(u.comment),
                ]
                for u in report.unhelpful
            ],
        )
        if report.unhelpful
        else '<p class="note">Nenhum 👎 no período.</p>'
    )
    parts.append("<h2>Seções mais citadas</h2>")
    parts.append(_list((_link(s, True) for s in report.most_cited), "Nenhuma citação no período."))
    parts.append(f"<h2>Seções nunca citadas no período ({len(report.never_cited)})</h2>")
    parts.append(
        "<details><summary>Ver a lista</summary>"
        + _list((_link(s) for s in report.never_cited), "Todas as seções foram citadas.")
        + "</details>"
    )
    parts.append(f"<h2>Documentos desatualizados (mais de {report.stale_after_days} dias)</h2>")
    parts.append(
        _table(
            ["documento", "fonte", "dono", "atualizado em", "dias"],
            [
                [
                    f'<a href="{escape(d.url, quote=True)}">{_t(d.title)}</a>',
                    escape(d.source),
                    _t(d.owner or "—"),
                    escape(d.updated_at),
                    str(d.days),
                ]
                for d in report.stale
            ],
            {4},
        )
        if report.stale
        else '<p class="note">Nenhum documento desatualizado.</p>'
    )
    if report.undated_documents:
        parts.append(f'<p class="note">{report.undated_documents} documento(s) sem data de atualização na fonte.</p>')
    parts.append("<h2>Candidatos ao glossário</h2>")
    parts.append(
        '<p class="note">Palavras frequentes nas perguntas sem resposta que não aparecem em nenhum trecho. '
        "Mapeie-as em corpus/glossary.toml (<code>bpa glossary suggest</code> gera o esqueleto).</p>"
    )
    parts.append(
        _table(
            ["palavra", "perguntas", "exemplos"],
            [[escape(c.term), str(c.questions), "<br>".join(_t(e) for e in c.examples)] for c in report.glossary],
            {1},
        )
        if report.glossary
        else '<p class="note">Nenhum candidato.</p>'
    )
    parts.append("<h2>Por fonte e dono</h2>")
    parts.append(
        _table(
            ["fonte", "dono", "documentos", "desatualizados", "citações", "👎", "lacunas", "seções nunca citadas"],
            [
                [
                    escape(o.source),
                    _t(o.owner or "—"),
                    str(o.documents),
                    str(o.stale),
                    str(o.citations),
                    str(o.unhelpful),
                    str(o.gaps),
                    str(o.never_cited),
                ]
                for o in report.owners
            ],
            {2, 3, 4, 5, 6, 7},
        )
    )
    parts.extend(kcs_html(report.kcs))
    parts.extend(f'<p class="note">{escape(note)}</p>' for note in report.notes)
    return (
        '<!DOCTYPE html><html lang="pt-BR"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>bpa — relatório de lacunas ({escape(report.period)})</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>"
    )
