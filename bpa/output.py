"""How the `bpa` CLI prints: prose wrapped at spaces, URLs never split, tables that fit.

Rich folds any word longer than the line, which breaks a URL in two when the output is
piped or the terminal is narrow (the copied link no longer works). Everything here prints
with ``soft_wrap=True`` after wrapping the text itself at spaces only, so a URL is always
whole on one line. Text from documents is printed as ``Text``, never parsed as markup.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from index.snapshot import GateRecord, Manifest, SourceState, SourceStatus

# pt-BR words for the source states a manifest records.
SOURCE_STATE_LABELS: dict[SourceState, str] = {
    "ok": "ok",
    "partial": "parcial",
    "failed": "falhou",
    "skipped": "não reindexada",
}
# A table wider than any terminal never fits: measure it against this instead.
_UNBOUNDED = 10_000
# The space before a citation marker "[n]": wrapped as part of the word before it, so the
# marker never starts a line of its own.
_MARKER_SPACE = re.compile(r" (?=\[\d+\])")
_GLUE = "\x1f"


def print_wrapped(console: Console, text: str, *, indent: str = "", hang: str = "", style: str = "") -> None:
    """``text`` wrapped at spaces to the console width; a longer word (a URL) stays whole.
    Continuation lines get ``hang`` after the ``indent``."""
    width = max(console.width, len(indent + hang) + 20)
    for line in text.splitlines() or [""]:
        wrapped = textwrap.fill(
            _MARKER_SPACE.sub(_GLUE, line),
            width=width,
            initial_indent=indent,
            subsequent_indent=indent + hang,
            break_long_words=False,
            break_on_hyphens=False,
        ).replace(_GLUE, " ")
        console.print(Text(wrapped, style=style), soft_wrap=True)


def print_url(console: Console, url: str, *, indent: str = "") -> None:
    console.print(Text(indent + url, style="blue"), soft_wrap=True)


def print_fields(console: Console, fields: Sequence[tuple[str, str]], *, indent: str = "  ") -> None:
    """Label/value lines with the values aligned."""
    pad = max((len(label) for label, _ in fields), default=0)
    for label, value in fields:
        console.print(Text(f"{indent}{label.ljust(pad)}  {value}"), soft_wrap=True)


def print_records(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    keys: int = 0,
    numeric: Sequence[str] = (),
) -> None:
    """A table when it fits the console; otherwise one block per row: its first ``keys``
    cells as a heading, then one "column  value" line per remaining cell."""
    table = Table(title=title)
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name in numeric else "left")
    for row in rows:
        table.add_row(*row)
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    console.print(Text(title, style="bold"), soft_wrap=True)
    for row in rows:
        if keys:
            console.print(Text(" ".join(cell for cell in row[:keys] if cell), style="bold"), soft_wrap=True)
        print_fields(console, list(zip(columns[keys:], row[keys:], strict=True)))


def when(iso: str) -> str:
    """A manifest timestamp as 'YYYY-MM-DD HH:MM' UTC (unchanged if it is not ISO 8601)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


def source_line(status: SourceStatus) -> str:
    """'ok, 12 documentos' — plus the failures and the error, when there are any."""
    text = f"{SOURCE_STATE_LABELS.get(status.status, status.status)}, {status.documents} documentos"
    if status.failed_documents:
        text += f" ({len(status.failed_documents)} com falha)"
    if status.error:
        text += f" — {status.error}"
    return text


def _figure(figures: dict[str, float | None] | None, key: str) -> str:
    value = figures.get(key) if figures else None
    return "—" if value is None else f"{value:.3f}"


def gate_verdict(gate: GateRecord) -> str:
    return "aprovado" if gate.passed else ("recusado, publicado com --force" if gate.forced else "recusado")


def gate_figures(gate: GateRecord, key: str) -> str:
    """'0.900 (publicado 1.000)': the build's figure beside the served snapshot's."""
    served = f" (publicado {_figure(gate.served, key)})" if gate.served is not None else ""
    return _figure(gate.candidate, key) + served


def gate_line(gate: GateRecord) -> str:
    """One sentence for the ingest summary (printed wrapped)."""
    text = (
        f"{gate_verdict(gate)} — recall@5 {gate_figures(gate, 'recall@5')} · acerto "
        f"{gate_figures(gate, 'answer_hit')} em {gate.questions} perguntas"
    )
    if gate.served is None:
        text += ", sem snapshot comparável"
    if gate.broken:
        text += f"; quebraram: {', '.join(gate.broken)}"
    return text


def gate_cell(gate: GateRecord | None) -> str:
    """The `bpa index list` cell: verdict, recall@5/answer-hit."""
    if gate is None:
        return "—"
    verdict = {"aprovado": "ok", "recusado": "recusado"}.get(gate_verdict(gate), "forçado")
    return f"{verdict} {_figure(gate.candidate, 'recall@5')}/{_figure(gate.candidate, 'answer_hit')}"


def print_gate(console: Console, gate: GateRecord | None) -> None:
    """The gate's figures in `bpa index info`."""
    console.print(Text("Portão de avaliação", style="bold"))
    if gate is None:
        print_fields(console, [("resultado", "— (publicado sem portão)")])
        return
    print_fields(
        console,
        [
            ("resultado", gate_verdict(gate)),
            ("perguntas", str(gate.questions)),
            ("recall@5", gate_figures(gate, "recall@5")),
            ("acerto", gate_figures(gate, "answer_hit")),
            ("comparado com", gate.served_id or "— (nenhum snapshot comparável)"),
        ],
    )
    for label, items in (("quebraram", ", ".join(gate.broken)), ("motivos", "; ".join(gate.reasons))):
        if items:
            print_wrapped(console, f"{label}: {items}", indent="  ", hang="  ")


def print_manifest(console: Console, manifest: Manifest, *, current: bool) -> None:
    """The readable summary of `bpa index info`."""
    heading = "Snapshot publicado" if current else "Snapshot"
    console.print(Text(f"{heading}: {manifest.id}", style="bold"), soft_wrap=True)
    chunking = manifest.chunking
    chunks = f"{manifest.chunks}"
    if "max_tokens" in chunking:
        chunks += f" (até {chunking['max_tokens']} tokens, sobreposição {chunking.get('overlap_tokens', 0)})"
    print_fields(
        console,
        [
            ("criado em", f"{when(manifest.created_at)} UTC"),
            ("modelo", f"{manifest.model_id} ({manifest.dim} dimensões)"),
            ("documentos", str(manifest.documents)),
            ("chunks", chunks),
            ("frases", str(manifest.units)),
            ("anterior", manifest.parent or "—"),
        ],
    )
    if manifest.sources:
        console.print(Text("Fontes", style="bold"))
        print_fields(console, [(name, source_line(s)) for name, s in manifest.sources.items()])
    print_gate(console, manifest.gate)


# --- bpa eval ---------------------------------------------------------------------------------
_EVAL_LABELS = {
    "answer_hit": "acerto da resposta",
    "first_line_hit": "acerto na 1ª linha",
    "declined_unanswerable": "recusa sem cobertura",
    "declined_answerable": "recusa indevida",
}


def print_eval_report(result: dict[str, Any], console: Any) -> None:
    """Metrics as rows, systems as columns: fits 80 columns whatever the number of kinds."""
    from rich.table import Table

    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.3f}"

    keys = [key for key in result if key.startswith("recall@")] + ["mrr@10"]
    console.print(f"bpa eval — modelo {result['model']}, snapshot {result['snapshot']}")
    table = Table("métrica", "bpa", "bm25 janelas", "denso janelas")
    bm25, dense = result["baselines"]["bm25_windows"], result["baselines"]["dense_windows"]
    for key in keys:
        table.add_row(key, fmt(result.get(key)), fmt(bm25.get(key)), fmt(dense.get(key)))
    for key, label in _EVAL_LABELS.items():
        table.add_row(label, fmt(result[key]), "—", "—")
    table.add_row("ECE (10 faixas)", fmt(result["ece"]), "—", "—")
    console.print(table)
    kinds = Table("tipo", "n", "r@5", "mrr", "acerto", "1ª linha", "recusa s/c", "recusa ind.")
    for kind, s in result["by_kind"].items():
        figures = ("recall@5", "mrr@10", "answer_hit", "first_line_hit", "declined_unanswerable", "declined_answerable")
        kinds.add_row(kind, str(s["n"]), *(fmt(s.get(key)) for key in figures))
    console.print(kinds)
    reliability = Table("confiança", "n", "média", "acertos")
    for row in result["reliability"]:
        reliability.add_row(row["bin"], str(row["n"]), fmt(row["confidence"]), fmt(row["accuracy"]))
    console.print(reliability)
    o = result["outcomes"]
    console.print(f"desfechos: {o['answer']} respostas · {o['pointer']} indicações · {o['refusal']} recusas")
    console.print(f"latência ask: p50 {result['p50_ms']:.1f} ms · p95 {result['p95_ms']:.1f} ms")
    for key, label in (
        ("misses", "fora do top-k"), ("wrong_declines", "recusadas sem motivo"),
        ("wrong_answers", "respondidas sem cobertura"), ("first_line_misses", "resposta fora da 1ª linha"),
    ):  # fmt: skip
        if result[key]:
            console.print(f"{label}: {', '.join(result[key])}")
