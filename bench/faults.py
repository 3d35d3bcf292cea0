"""Fault run: what a replica does while its PostgreSQL is stuck (issue 22, item 8).

Loopback only, stops by itself (about two minutes). It starts a throwaway PostgreSQL cluster
(tests/support/pg_cluster.py: Debian's postgresql binaries), ingests a small corpus with the
fake embedder, starts a real ``python -m bpa serve`` on it, and for each case drives 16
clients (asks, and feedback on earlier answers) for 5 s before, 15 s during and 10 s after
the fault:

- ``pg-stopped``: every process of the cluster SIGSTOPped (a hung host, a partition);
- ``pg-locked``: the state tables locked by another session (LOCK TABLE ... ACCESS EXCLUSIVE).

Per case it prints: asks, failed asks, ask latency p50/p99/max, /healthz max, the time from
the fault to /readyz saying ``degraded`` and from its end to ``ok``, answered vs stored
questions, acknowledged vs stored feedback, and feedback on outage answers sent after the
fault (accepted / sent).

    PYTHONPATH=. python bench/faults.py            # both cases
    PYTHONPATH=. python bench/faults.py --fault 5  # shorter

``hostile_page_cases`` (the crawler's limits: gzip bomb, a page at 1 byte/s, HTML nested
100,000 deep) runs with ``--pages``; see its docstring.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import itertools
import os
import resource
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.load import QUESTIONS, free_port, log_tail, percentile, stop_server
from tests.support import pg_cluster

CLIENTS = 16
PAGES = {
    "prazos.html": "<h1>Prazos</h1><h2>Aceite</h2><p>O prazo de aceite é de dez dias úteis.</p>"
    "<h2>Primeira resposta</h2><p>A primeira resposta ao ticket deve sair em até quatro horas.</p>",
    "contato.html": "<h1>Contato</h1><h2>Ligar</h2><p>Ligue para o cliente depois de duas interações "
    "públicas sem resposta.</p><h2>Cliente parado</h2><p>Com o cliente parado, ligue e registre a ligação.</p>",
    "encerrar.html": "<h1>Encerramento</h1><h2>Sem resposta</h2><p>O ticket sem resposta do cliente é "
    "encerrado após três tentativas de contato registradas.</p>",
}


@dataclass
class Case:
    name: str
    started: float = 0.0  # monotonic, when the fault began
    ended: float = 0.0
    asks: list[tuple[float, float, int, str]] = field(default_factory=list)  # (t, latency, status, answer_id)
    feedback: list[tuple[str, int]] = field(default_factory=list)  # (answer_id, status)
    readiness: list[tuple[float, str]] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    after: tuple[int, int] = (0, 0)  # outage-answer feedback sent after the fault: accepted, sent
    stored_questions: int = 0
    answered_stored: int = 0
    stored_feedback: int = 0
    drained_s: float | None = None

    @property
    def acknowledged(self) -> int:
        return sum(1 for _, status in self.feedback if status == 201)

    def to_degraded(self) -> float | None:
        return next((t - self.started for t, s in self.readiness if t >= self.started and s == "degraded"), None)

    def to_ok(self) -> float | None:
        return next((t - self.ended for t, s in self.readiness if t >= self.ended and s == "ok"), None)


def environment(data: Path, state_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BPA_DATA_DIR=str(data),
        BPA_SOURCES=str(data.parent / "corpus" / "sources.toml"),
        BPA_EMBEDDER="fake",
        BPA_STATE_URL=state_url,
        BPA_RATE_LIMIT_PER_MINUTE="100000000",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        OMP_NUM_THREADS="1",
    )
    return env


def prepare(root: Path, state_url: str) -> None:
    corpus = root / "corpus"
    corpus.mkdir()
    for name, html in PAGES.items():
        (corpus / name).write_text(html, encoding="utf-8")
    sources = "".join(f'[[source]]\nname = "{n[:-5]}"\ntype = "files"\npath = "{n}"\n\n' for n in PAGES)
    (corpus / "sources.toml").write_text(sources, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "bpa", "ingest"],
        env=environment(root / "var", state_url),
        check=True,
        capture_output=True,
        timeout=300,
    )


@contextmanager
def locked(url: str) -> Iterator[None]:
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE questions, feedback IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def drive(base: str, case: Case, fault: Callable[[], AbstractContextManager[None]], before: float, during: float,
          after: float) -> None:  # fmt: skip
    questions = itertools.cycle(QUESTIONS)
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.monotonic()
    outage_ids: list[str] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30.0) as http:
            for i in itertools.count():
                if stop.is_set():
                    return
                with lock:
                    question = next(questions)
                started = time.monotonic()
                try:
                    response = http.post("/v1/ask", json={"question": question})
                    status, answer_id = response.status_code, response.json().get("answer_id", "")
                except (httpx.HTTPError, ValueError):
                    status, answer_id = 0, ""
                elapsed = time.monotonic() - started
                with lock:
                    case.asks.append((started, elapsed, status, answer_id))
                    if case.started and not case.ended and case.started <= started and answer_id:
                        outage_ids.append(answer_id)
                if i % 4 == 3 and answer_id:  # feedback on an earlier answer, as analysts do
                    try:
                        sent = http.post("/v1/feedback", json={"answer_id": answer_id, "helpful": n % 2 == 0})
                        code = sent.status_code
                    except httpx.HTTPError:
                        code = 0
                    with lock:
                        case.feedback.append((answer_id, code))

    def probe() -> None:
        with httpx.Client(base_url=base, timeout=5.0) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    state = http.get("/readyz").json().get("state", "?")
                except (httpx.HTTPError, ValueError):
                    state = "timeout"
                case.readiness.append((started, state))
                started = time.monotonic()
                try:
                    http.get("/healthz")
                    case.healthz.append(time.monotonic() - started)
                except httpx.HTTPError:
                    case.healthz.append(float("inf"))
                time.sleep(0.1)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=probe, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, before - (time.monotonic() - t0)))
    with fault():
        case.started = time.monotonic()
        time.sleep(during)
    case.ended = time.monotonic()
    time.sleep(after)
    stop.set()
    for thread in threads:
        thread.join(timeout=35)
    # Feedback on answers given during the fault, sent now that the database is back.
    sample = outage_ids[:: max(1, len(outage_ids) // 20)][:20]
    accepted = 0
    with httpx.Client(base_url=base, timeout=30.0) as http:
        for answer_id in sample:
            status = http.post("/v1/feedback", json={"answer_id": answer_id, "helpful": True}).status_code
            accepted += status == 201
            case.feedback.append((answer_id, status))
    case.after = (accepted, len(sample))


def count_stored(url: str, case: Case, timeout: float = 30.0) -> None:
    answered = {a for _, _, status, a in case.asks if status == 200 and a}
    started = time.monotonic()
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            ids = [r[0] for r in conn.execute("SELECT answer_id FROM questions").fetchall()]
            case.stored_feedback = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]  # type: ignore[index]
        case.stored_questions = len(ids)
        case.answered_stored = len(answered & set(ids))
        if case.answered_stored == len(answered):
            case.drained_s = time.monotonic() - started
            return
        if time.monotonic() - started > timeout:
            return
        time.sleep(0.5)


def row(case: Case) -> str:
    ok = [latency for _, latency, status, _ in case.asks if status == 200]
    failed = sum(1 for _, _, status, _ in case.asks if status != 200)
    answered = sum(1 for _, _, status, a in case.asks if status == 200 and a)

    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    def s(x: float | None) -> str:
        return "—" if x is None else f"{x:.1f}"

    accepted, sent = case.after
    refused = sum(1 for _, status in case.feedback if status == 503)
    return (
        f"| {case.name} | {len(case.asks)} | {failed} | {ms(percentile(ok, 0.5))} | {ms(percentile(ok, 0.99))} | "
        f"{ms(max(ok, default=0))} | {ms(max(case.healthz, default=0))} | {s(case.to_degraded())} | "
        f"{s(case.to_ok())} | {answered}/{case.answered_stored} | {case.acknowledged}/{case.stored_feedback} | "
        f"{refused} | {accepted}/{sent} |"
    )


HEADER = (
    "| caso | perguntas | falhas | p50 ms | p99 ms | máx ms | /healthz máx ms | até degraded s | até ok s | "
    "respondidas/gravadas | avaliações aceitas/gravadas | avaliações 503 | avaliações pós-falha aceitas/enviadas |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def database_cases(args: argparse.Namespace) -> list[Case]:
    reason = pg_cluster.unavailable()
    if reason:
        raise SystemExit(f"sem PostgreSQL: {reason}")
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="bpa-faults-") as tmp, pg_cluster.cluster() as base_url:
        with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bpa")
        url = f"{base_url}/bpa"
        root = Path(tmp)
        prepare(root, url)
        port = free_port()
        with open(root / "serve.log", "w+b") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "bpa", "serve", "--port", str(port)],
                env=environment(root / "var", url),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"o servidor não ficou pronto:\n{log_tail(log)}")
                    time.sleep(0.25)
                faults: dict[str, Callable[[], AbstractContextManager[None]]] = {
                    "pg-stopped": lambda: pg_cluster.frozen(url),
                    "pg-locked": lambda: locked(url),
                }
                for name in args.cases:
                    before_feedback = 0
                    case = Case(name)
                    print(f"caso {name}: {args.before:.0f} s antes, {args.fault:.0f} s de falha, "
                          f"{args.after:.0f} s depois, {CLIENTS} clientes...", file=sys.stderr, flush=True)  # fmt: skip
                    with psycopg.connect(url, autocommit=True) as conn:
                        before_feedback = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]  # type: ignore[index]
                    drive(base, case, faults[name], args.before, args.fault, args.after)
                    count_stored(url, case)
                    case.stored_feedback -= before_feedback
                    cases.append(case)
            finally:
                stop_server(server)
                if args.log:
                    print(log_tail(log, 20000), file=sys.stderr)
    return cases


# --- hostile pages ---------------------------------------------------------------------------
class _Hostile(http.server.BaseHTTPRequestHandler):
    """A gzip bomb (2 MB that inflates to 2 GiB), a page sent at 1 byte/s, HTML nested
    100,000 deep, and an ordinary page that must still be published."""

    _bomb: bytes | None = None

    @classmethod
    def bomb(cls) -> bytes:
        """One gzip member of ~2 MB that inflates to 2 GiB (made once, on first request)."""
        if cls._bomb is None:
            packer = zlib.compressobj(9, zlib.DEFLATED, 31)
            chunk = b"a" * (2 * 1024**2)
            parts = [packer.compress(b"<html><body><p>")]
            parts += [packer.compress(chunk) for _ in range(1024)]
            cls._bomb = b"".join([*parts, packer.compress(b"</p></body></html>"), packer.flush()])
        return cls._bomb

    def do_GET(self) -> None:
        # The crawler hanging up on the page is what the case is about.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._serve()

    def _serve(self) -> None:
        if self.path == "/bomb":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(self.bomb())
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for byte in b"<html><body><p>" + b"x" * 600:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1.0)
        elif self.path == "/deep":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(("<div>" * 100_000 + "texto" + "</div>" * 100_000).encode())
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write("<h1>Prazos</h1><p>O prazo de aceite é de dez dias úteis.</p>".encode())

    def log_message(self, *args: object) -> None:
        pass


def run_bounded(
    command: list[str], env: dict[str, str], timeout: float, cap: int
) -> tuple[str, list[str], float, float]:
    """Run ``command`` under an address-space cap, killed after ``timeout`` s: its exit code
    (or "timeout"), its last output line, wall seconds and its own peak RSS in MB (wait4)."""
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        child = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
        )
        code = "timeout"
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                code = str(os.waitstatus_to_exitcode(status))
                break
            if time.monotonic() - started > timeout:
                child.kill()
                _, _, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.1)
        child.returncode = 0  # reaped above: Popen must not wait for it again
        wall = time.monotonic() - started
        out.seek(0)
        last = out.read().decode(errors="replace").strip().splitlines()[-1:]
        if code == "timeout":
            last = [f"interrompido após {timeout:.0f} s"]
        return code, last, wall, usage.ru_maxrss / 1024


def hostile_page_cases(timeout: float = 40.0, memory_cap_gb: float = 1.5) -> list[str]:
    """One ``bpa ingest`` per hostile page (with an ordinary page beside it), from a local
    server: wall time, the child's peak RSS and its last line. The child runs under an
    address-space cap (``memory_cap_gb``) and a ``timeout``, so a crawler without limits (a
    branch without issue 22's items 3-5) fails here fast instead of eating the machine.
    Expected with the limits: each page fails alone in <= 35 s, peak RSS <= 1 GB, named by
    URL, the ordinary page published."""
    rows = ["| página | tempo s | pico RSS MB | código | mensagem |", "|---|---|---|---|---|"]

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    _Hostile.bomb()  # made before serving: the case is the bomb, not a server slow to answer
    server = Server(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    cap = int(memory_cap_gb * 1024**3)
    try:
        for page in ("bomb", "slow", "deep"):
            with tempfile.TemporaryDirectory(prefix="bpa-hostile-") as tmp:
                root = Path(tmp)
                (root / "sources.toml").write_text(
                    f'[[source]]\nname = "ok"\ntype = "web"\nurls = ["{base}/ok"]\nallow = ["{base}/"]\n\n'
                    f'[[source]]\nname = "{page}"\ntype = "web"\nurls = ["{base}/{page}"]\nallow = ["{base}/"]\n',
                    encoding="utf-8",
                )
                env = environment(root / "var", "")
                env["BPA_SOURCES"] = str(root / "sources.toml")
                code, last, wall, peak = run_bounded([sys.executable, "-m", "bpa", "ingest"], env, timeout, cap)
                message = (last[0] if last else "")[:120].replace("|", "/")
                rows.append(f"| {page} | {wall:.1f} | {peak:.0f} | {code} | {message} |")
    finally:
        server.shutdown()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=["pg-stopped", "pg-locked"], choices=["pg-stopped", "pg-locked"])
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--fault", type=float, default=15.0, help="segundos de falha (padrão 15)")
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--pages", action="store_true", help="roda também as páginas hostis (hostile_page_cases)")
    parser.add_argument("--log", action="store_true", help="mostra o log do servidor ao fim")
    args = parser.parse_args(argv)
    if args.cases:  # `--cases` alone: only the hostile pages
        cases = database_cases(args)
        print(HEADER)
        for case in cases:
            print(row(case))
    if args.pages:
        print()
        print("\n".join(hostile_page_cases()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
