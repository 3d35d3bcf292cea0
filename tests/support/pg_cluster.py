"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, on 127.0.0.1.

Debian's ``postgresql`` package (which ``.ci/run`` installs) provides the binaries; without
them the tests that need a database skip with a reason. PostgreSQL refuses to run as root,
so as root the cluster belongs to the ``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.common import free_port

SUPERUSER = "bpa"
# Each running cluster's data directory, by its base URL (freeze finds its processes there).
_DATA: dict[str, Path] = {}


def _bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if _bindir() is None:
        return "PostgreSQL não instalado (apt-get install postgresql; o .ci/run instala)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "rodando como root sem o usuário 'postgres' para o cluster de teste"
    return None


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster; yield its base URL (``postgresql://bpa@127.0.0.1:PORT``); stop and delete it."""
    bindir = _bindir()
    assert bindir is not None, unavailable()
    root = Path(tempfile.mkdtemp(prefix="bpa-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=100"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}"
        _DATA[url] = data
        try:
            yield url
        finally:
            _DATA.pop(url, None)
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _processes(data: Path) -> list[int]:
    """The postmaster's pid, then its children's (backends, checkpointer, walwriter...)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == postmaster:
            children.append(int(Path(stat).parent.name))
    return [postmaster, *children]


@contextmanager
def frozen(url: str) -> Iterator[None]:
    """The whole cluster SIGSTOPped (a hung host, a network partition: connections open,
    nothing answers, no error) while the block runs; SIGCONT afterwards, whatever happens."""
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    pids = _processes(_DATA[base])
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
