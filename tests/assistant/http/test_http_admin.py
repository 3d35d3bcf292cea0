"""/v1/admin/reindex: token, job lifecycle, and the subprocess reindexer."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from starlette.testclient import TestClient

from assistant.http import ReindexResult, SubprocessReindexer, create_app
from index.settings import Settings
from tests.support.fake_assistant import FakeAssistant

TOKEN = "segredo-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class BlockingReindexer:
    """Runs until released, then returns the given result (or raises)."""

    def __init__(self, result: ReindexResult | Exception) -> None:
        self.result = result
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> ReindexResult:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10), "test never released the reindexer"
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def make_client(settings: Settings, reindexer: BlockingReindexer, token: str | None = TOKEN) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"admin_token": token}), FakeAssistant(), reindexer))


def wait_finished(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = client.get(f"/v1/admin/reindex/{job_id}", headers=AUTH).json()
        if body["status"] != "running":
            return body
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_reindex_lifecycle(settings: Settings) -> None:
    reindexer = BlockingReindexer(ReindexResult(ok=True, exit_code=0, summary="42 documentos indexados"))
    client = make_client(settings, reindexer)

    response = client.post("/v1/admin/reindex", headers=AUTH)
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert reindexer.started.wait(5)

    running = client.get(f"/v1/admin/reindex/{job_id}", headers=AUTH).json()
    assert running["status"] == "running"
    assert running["finished_at"] is None and running["exit_code"] is None

    conflict = client.post("/v1/admin/reindex", headers=AUTH)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "reindex_running"
    assert job_id in conflict.json()["error"]["message"]

    reindexer.release.set()
    done = wait_finished(client, job_id)
    assert done["status"] == "succeeded"
    assert done["exit_code"] == 0
    assert done["summary"] == "42 documentos indexados"
    assert done["started_at"] <= done["finished_at"]
    assert reindexer.calls == 1

    # once finished, another job may start
    assert client.post("/v1/admin/reindex", headers=AUTH).status_code == 202


def test_failed_and_crashing_reindex_are_reported(settings: Settings) -> None:
    failing = BlockingReindexer(ReindexResult(ok=False, exit_code=2, summary="erro: fonte inacessível"))
    failing.release.set()
    client = make_client(settings, failing)
    done = wait_finished(client, client.post("/v1/admin/reindex", headers=AUTH).json()["job_id"])
    assert (done["status"], done["exit_code"], done["summary"]) == ("failed", 2, "erro: fonte inacessível")

    crashing = BlockingReindexer(RuntimeError("disco cheio"))
    crashing.release.set()
    client = make_client(settings, crashing)
    done = wait_finished(client, client.post("/v1/admin/reindex", headers=AUTH).json()["job_id"])
    assert done["status"] == "failed"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer errado"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)
def test_reindex_requires_the_admin_token(settings: Settings, headers: dict) -> None:
    reindexer = BlockingReindexer(ReindexResult(True, 0, ""))
    client = make_client(settings, reindexer)
    response = client.post("/v1/admin/reindex", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert client.get("/v1/admin/reindex/qualquer", headers=headers).status_code == 401
    assert reindexer.calls == 0


def test_unknown_job_is_404(settings: Settings) -> None:
    client = make_client(settings, BlockingReindexer(ReindexResult(True, 0, "")))
    response = client.get("/v1/admin/reindex/nao-existe", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_job"


def test_admin_routes_are_404_without_admin_token(settings: Settings) -> None:
    reindexer = BlockingReindexer(ReindexResult(True, 0, ""))
    client = make_client(settings, reindexer, token=None)
    assert client.post("/v1/admin/reindex", headers=AUTH).status_code == 404
    assert client.get("/v1/admin/reindex/x", headers=AUTH).status_code == 404
    assert "/v1/admin/reindex" not in client.get("/openapi.json").json()["paths"]
    assert reindexer.calls == 0


def test_admin_token_does_not_need_an_api_key(settings: Settings) -> None:
    reindexer = BlockingReindexer(ReindexResult(True, 0, ""))
    reindexer.release.set()
    app = create_app(settings.model_copy(update={"admin_token": TOKEN, "api_keys": ["k"]}), FakeAssistant(), reindexer)
    assert TestClient(app).post("/v1/admin/reindex", headers=AUTH).status_code == 202


# --- SubprocessReindexer --------------------------------------------------------------


def test_subprocess_reindexer_default_command_is_bpa_ingest(settings: Settings) -> None:
    assert SubprocessReindexer(settings).command == [sys.executable, "-m", "bpa", "ingest"]


def test_subprocess_reindexer_keeps_the_last_lines_and_exit_code(settings: Settings) -> None:
    script = "import sys\nfor i in range(30): print('linha', i)\nprint('fim', file=sys.stderr)\nsys.exit(3)"
    result = SubprocessReindexer(settings, command=[sys.executable, "-c", script], tail_lines=3)()
    assert result == ReindexResult(ok=False, exit_code=3, summary="linha 28\nlinha 29\nfim")


def test_subprocess_reindexer_shares_env_and_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("BPA_EXTRA_TEST_VAR", "herdado")
    custom = settings.model_copy(update={"data_dir": tmp_path / "dados", "embedder": "fake"})
    script = "import os; e = os.environ; print(e['BPA_EXTRA_TEST_VAR'], e['BPA_DATA_DIR'], e['BPA_EMBEDDER'])"
    result = SubprocessReindexer(custom, command=[sys.executable, "-c", script])()
    assert result.ok and result.exit_code == 0
    assert result.summary == f"herdado {tmp_path / 'dados'} fake"


def test_subprocess_reindexer_reports_timeout_and_missing_program(settings: Settings) -> None:
    slow = SubprocessReindexer(settings, command=[sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.3)()
    assert not slow.ok and slow.exit_code == -1
    missing = SubprocessReindexer(settings, command=["/nao/existe/bpa"])()
    assert not missing.ok and missing.exit_code == -1
