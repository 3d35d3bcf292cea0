"""Reindex jobs live in the data directory (issue 22, item 7): any replica reports a job and
its outcome after the replica that started it is gone, and a job whose processes died is
reported failed, not running forever.

Two apps on one data directory stand for two replicas; the "killed replica" is a process
that starts the job's supervisor and exits at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from starlette.testclient import TestClient

from assistant.http import SubprocessReindexer, create_app
from assistant.http.job_files import DIED, JobFiles
from assistant.http.schemas import ReindexStatus
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant

TOKEN = "segredo-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def replica(settings: Settings, command: list[str] | None = None) -> TestClient:
    admin = settings.model_copy(update={"admin_token": TOKEN})
    reindexer = SubprocessReindexer(admin, command=command or [sys.executable, "-c", "print('nada')"])
    return TestClient(create_app(admin, FakeAssistant(), reindexer))


def poll(client: TestClient, job_id: str, until: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/admin/reindex/{job_id}", headers=AUTH)
        if response.status_code == 200 and response.json()["status"] == until:
            return dict(response.json())
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not {until} within {timeout} s: {response.status_code} {response.text}")


def test_a_job_started_by_one_replica_is_reported_by_another(settings: Settings) -> None:
    a = replica(settings, [sys.executable, "-c", "print('snapshot publicado: 42 documentos (cpf 529.982.247-25)')"])
    job_id = a.post("/v1/admin/reindex", headers=AUTH).json()["job_id"]
    poll(a, job_id, "succeeded")
    b = replica(settings)  # another replica (or this one restarted)
    seen = poll(b, job_id, "succeeded", timeout=2)
    assert "snapshot publicado: 42 documentos" in seen["summary"] and "529.982.247-25" not in seen["summary"]
    assert seen["exit_code"] == 0 and seen["finished_at"]
    assert b.get("/readyz").json()["last_reindex"]["job_id"] == job_id
    assert b.get("/v1/admin/reindex/../../etc/passwd", headers=AUTH).status_code == 404


def test_the_outcome_is_recorded_when_the_starting_replica_is_gone(settings: Settings) -> None:
    jobs = settings.data_dir / "reindex-jobs"
    job_id = uuid.uuid4().hex
    JobFiles(jobs).write(ReindexStatus(job_id=job_id, status="running", started_at="2026-01-01T00:00:00+00:00"))
    supervisor = [sys.executable, "-m", "assistant.http.reindex_child", str(jobs), job_id, "5", "--"]
    ingest = [sys.executable, "-c", "import time; time.sleep(1.0); print('snapshot publicado')"]
    # The replica starts the supervisor and is killed at once (os._exit: no clean-up of its own).
    starter = (
        f"import os, subprocess; subprocess.Popen({[*supervisor, *ingest]!r}, stdout=subprocess.PIPE); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", starter], check=True, timeout=30, env={**os.environ, "PYTHONPATH": "."})
    b = replica(settings)
    assert poll(b, job_id, "running", timeout=2)["finished_at"] is None  # the supervisor's heartbeat
    done = poll(b, job_id, "succeeded")
    assert done["summary"] == "snapshot publicado" and done["started_at"] == "2026-01-01T00:00:00+00:00"


def test_a_job_whose_processes_all_died_is_failed_not_running_forever(settings: Settings) -> None:
    jobs = settings.data_dir / "reindex-jobs"
    job_id = uuid.uuid4().hex
    JobFiles(jobs).write(ReindexStatus(job_id=job_id, status="running", started_at="2026-01-01T00:00:00+00:00"))
    b = replica(settings)
    assert poll(b, job_id, "running", timeout=2)
    past = time.time() - 120  # its last heartbeat, two minutes ago
    os.utime(jobs / f"{job_id}.alive", (past, past))
    failed = poll(b, job_id, "failed", timeout=2)
    assert failed["summary"] == DIED
