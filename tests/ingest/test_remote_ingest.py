"""Issue-level behaviour with local Confluence and Zendesk stand-ins: index, edit, delete, outage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.common import ROOT
from tests.support.standins import ConfluenceStandin, ZendeskStandin, two_remote_sources


def _bpa(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpa", *args], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def test_remote_sources_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    with ConfluenceStandin(max_limit=2) as cf, ZendeskStandin(max_page_size=2) as zd:
        cf.add_page("100", "Processos", "<p>Raiz dos processos de suporte.</p>")
        cf.add_page(
            "101",
            "Escalonamento",
            "<h2>Quando escalar</h2><p>Use o protocolo ZEBRA-77 para escalar.</p>",
            parent="100",
        )
        cf.add_page(
            "102",
            "Plantão",
            "<h2>Escala</h2><p>O plantão noturno atende pelo canal CORUJA-12.</p>",
            parent="100",
        )
        cf.add_page("103", "Férias", "<p>Solicitações de férias seguem o fluxo GIRAFA-5.</p>", parent="101")
        art = zd.add_article("Reembolso de viagens", "<p>Reembolsos usam o formulário TATU-31.</p>")
        zd.add_article("Rascunho", "<p>Texto de rascunho PREGUICA-9.</p>", draft=True)
        for i in range(4):
            zd.add_article(f"Artigo {i}", f"<p>Conteúdo genérico número {i} sobre atendimento.</p>")
        toml = tmp_path / "sources.toml"
        toml.write_text(two_remote_sources(cf, zd), encoding="utf-8")
        env = {
            **os.environ,
            "BPA_DATA_DIR": str(data_dir),
            "BPA_SOURCES": str(toml),
            "BPA_EMBEDDER": "fake",
            "BPA_HTTP_TIMEOUT": "2",
            "BPA_HTTP_RETRIES": "1",
            "BPA_HTTP_BACKOFF": "0.01",
            "PYTHONPATH": str(ROOT),
        }

        first = _bpa(["ingest"], env)
        assert first.returncode == 0, first.stderr
        hits = json.loads(_bpa(["search", "CORUJA-12", "--json", "-k", "1"], env).stdout)
        assert hits[0]["url"].startswith(cf.url) and "102" in hits[0]["url"]
        assert set(hits[0]) == {"chunk_id", "document_id", "title", "section", "url", "text", "score"}
        assert "CORUJA-12" in hits[0]["text"]
        kcs = json.loads(_bpa(["search", "TATU-31", "--json", "-k", "1"], env).stdout)[0]
        assert "TATU-31" in kcs["text"] and kcs["url"].startswith(f"{zd.url}/hc/pt-br/articles/{art.id}-")
        assert all(
            "PREGUICA" not in h["text"] for h in json.loads(_bpa(["search", "PREGUICA-9", "--json"], env).stdout)
        )

        # an edit and a deletion show up after the next ingest
        cf.edit_page("102", body="<h2>Escala</h2><p>O plantão noturno agora atende pelo canal MORCEGO-3.</p>")
        cf.delete_page("103")
        second = _bpa(["ingest"], env)
        assert second.returncode == 0, second.stderr
        texts = " ".join(
            h["text"]
            for h in json.loads(
                _bpa(["search", "plantão noturno MORCEGO-3 GIRAFA-5", "--json", "-k", "10"], env).stdout
            )
        )
        assert "MORCEGO-3" in texts and "CORUJA-12" not in texts and "GIRAFA-5" not in texts

        # an outage keeps what was indexed and fails loudly, naming the source
        zd.fail(r"articles", status=500, times=None)
        third = _bpa(["ingest"], env)
        assert third.returncode == 1
        assert "kcs" in third.stderr and "500" in (third.stderr + third.stdout)
        kept = json.loads(_bpa(["search", "TATU-31", "--json", "-k", "1"], env).stdout)[0]
        assert "TATU-31" in kept["text"]
        info = json.loads(_bpa(["index", "info", "--json"], env).stdout)
        assert info["sources"]["kcs"]["status"] == "failed"


def test_sources_check_reaches_each_source(tmp_path: Path, data_dir: Path) -> None:
    from ingest.check import check_sources
    from tests.support.standins import fast_settings

    with ConfluenceStandin() as cf, ZendeskStandin() as zd:
        cf.add_page("100", "Processos", "<p>Raiz.</p>")
        zd.add_article("Artigo", "<p>Texto.</p>")
        toml = tmp_path / "sources.toml"
        toml.write_text(two_remote_sources(cf, zd), encoding="utf-8")
        settings = fast_settings(data_dir=data_dir, sources=toml)
        assert [(name, ok) for name, ok, _ in check_sources(settings)] == [("tdn", True), ("kcs", True)]
        zd.fail(r"articles", status=500, times=None)
        results = dict((name, (ok, detail)) for name, ok, detail in check_sources(settings))
        assert results["tdn"][0] and not results["kcs"][0] and "500" in results["kcs"][1]
        assert not (data_dir / "snapshots").exists()  # checking indexes nothing
