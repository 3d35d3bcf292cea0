"""Load test of POST /v1/ask.

Starts ``python -m bpa serve --port <free>`` (or targets ``--url``), waits for /readyz, then
drives /v1/ask at each concurrency level for a bounded time and prints req/s, latency
percentiles, errors and the server's memory (RSS). It always stops by itself.

    python bench/load.py                       # own server, levels 1, 8, 32, 10 s each
    python bench/load.py --url http://127.0.0.1:8000 --pid 1234 --duration 5
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

QUESTIONS = [
    "cliente parado, o que faço?",
    "quantas interações públicas posso fazer sem ligar?",
    "quando devo ligar para o cliente?",
    "como registrar que o cliente não respondeu?",
    "qual o prazo para a primeira resposta ao ticket?",
    "posso encerrar o ticket se o cliente não responder?",
    "como escalar um ticket para o time de desenvolvimento?",
    "o que escrever na solução do ticket?",
    "como tratar ticket reaberto pelo cliente?",
    "quando usar o status aguardando cliente?",
    "como documentar a análise feita no ticket?",
    "o cliente pediu retorno por telefone, o que registro?",
    "qual o procedimento para ticket com prioridade alta?",
    "como devo me comunicar com o cliente insatisfeito?",
    "posso transferir o ticket para outro analista?",
    "o que fazer quando o problema é de infraestrutura do cliente?",
    "como informar um workaround ao cliente?",
    "quando abrir um chamado interno para a equipe de produto?",
    "como revisar o ticket antes de responder?",
    "o que fazer se o cliente mandar dados pessoais no ticket?",
]


@dataclass
class LevelResult:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 9))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of ``pid`` in MiB (psutil if installed, else /proc)."""
    if pid is None:
        return None
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_server(port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """The server's output goes to ``log`` (a pipe nobody reads would fill and block it)."""
    env = dict(os.environ)
    env.setdefault("BPA_RATE_LIMIT_PER_MINUTE", "100000000")  # the bench is one client: do not throttle it
    return subprocess.Popen(
        [sys.executable, "-m", "bpa", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def log_tail(log: IO[bytes] | None, chars: int = 2000) -> str:
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def wait_ready(url: str, timeout: float, server: subprocess.Popen[bytes] | None, log: IO[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server is not None and server.poll() is not None:
                raise SystemExit(f"o servidor terminou (código {server.returncode}):\n{log_tail(log)}")
            try:
                if client.get(url + "/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    raise SystemExit(f"{url}/readyz não ficou pronto em {timeout:.0f} s (rodou `bpa ingest`?)\n{log_tail(log)}")


def run_level(url: str, concurrency: int, duration: float, timeout: float, headers: dict[str, str]) -> LevelResult:
    """``concurrency`` threads post questions back to back until ``duration`` seconds pass."""
    questions = itertools.cycle(QUESTIONS)
    lock = threading.Lock()
    result = LevelResult(concurrency, duration)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    deadline = time.monotonic() + duration

    with httpx.Client(base_url=url, timeout=timeout, limits=limits, headers=headers) as client:

        def worker() -> None:
            while time.monotonic() < deadline:
                with lock:
                    question = next(questions)
                started = time.perf_counter()
                try:
                    status = str(client.post("/v1/ask", json={"question": question}).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    result.statuses[status] += 1
                    if status == "200":
                        result.latencies.append(elapsed)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=duration + timeout + 5)
        result.seconds = time.monotonic() - started
    return result


def format_row(result: LevelResult, rss: float | None) -> str:
    ms = [percentile(result.latencies, p) * 1000 for p in (0.50, 0.95, 0.99)]
    done = len(result.latencies)
    others = ", ".join(f"{s}×{n}" for s, n in sorted(result.statuses.items()) if s != "200")
    memory = f"{rss:8.1f}" if rss is not None else "       -"
    return (
        f"{result.concurrency:>5} {done:>8} {done / result.seconds:>8.1f} "
        f"{ms[0]:>8.1f} {ms[1]:>8.1f} {ms[2]:>8.1f} {result.errors:>7} {memory}" + (f"   ({others})" if others else "")
    )


COLUMNS = (("conc", 5), ("ok", 8), ("req/s", 8), ("p50 ms", 8), ("p95 ms", 8), ("p99 ms", 8), ("erros", 7))
HEADER = " ".join(f"{name:>{width}}" for name, width in COLUMNS) + f" {'RSS MiB':>8}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Teste de carga de POST /v1/ask.")
    parser.add_argument("--url", help="servidor já rodando (senão sobe `python -m bpa serve`)")
    parser.add_argument("--pid", type=int, help="pid do servidor de --url, para medir o RSS")
    parser.add_argument("--concurrency", default="1,8,32", help="níveis de concorrência (padrão 1,8,32)")
    parser.add_argument("--duration", type=float, default=10.0, help="segundos por nível (padrão 10)")
    parser.add_argument("--timeout", type=float, default=30.0, help="timeout de cada requisição, em s")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="espera máxima por /readyz, em s")
    parser.add_argument("--api-key", default=os.environ.get("BPA_BENCH_API_KEY"), help="valor de X-API-Key")
    return parser.parse_args(argv)


def bench(
    url: str,
    args: argparse.Namespace,
    pid: int | None,
    server: subprocess.Popen[bytes] | None = None,
    log: IO[bytes] | None = None,
) -> None:
    levels = [int(n) for n in args.concurrency.split(",") if n.strip()]
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    wait_ready(url, args.ready_timeout, server, log)
    print(f"alvo: {url}/v1/ask · {len(QUESTIONS)} perguntas em rodízio · {args.duration:.0f} s por nível")
    print(HEADER, flush=True)
    for concurrency in levels:
        result = run_level(url, concurrency, args.duration, args.timeout, headers)
        print(format_row(result, rss_mb(pid)), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url:
        bench(args.url.rstrip("/"), args, args.pid)
        return 0
    with tempfile.TemporaryFile() as log:
        port = free_port()
        server = start_server(port, log)
        try:
            bench(f"http://127.0.0.1:{port}", args, server.pid, server, log)
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
