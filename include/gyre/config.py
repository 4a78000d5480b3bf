"""One typed Settings object, read from the environment (``GYRE_*``) and an optional ``.env``.

Every stage reads its configuration from here, so an invalid value stops start-up once, with one line
that names the variable and what it allows (``ConfigError``), instead of failing deep inside a task.
Secrets are ``SecretStr``: they never appear in ``repr``, logs or tracebacks.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Port = Annotated[int, Field(ge=1024, le=65535)]


class ConfigError(RuntimeError):
    """An invalid setting; its message is one line naming the variable."""


class Settings(BaseSettings):
    """Gyre's configuration. Field ``foo_bar`` is read from ``GYRE_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix="GYRE_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- where things live -------------------------------------------------------------------------
    home: Path = Field(PROJECT_ROOT / ".gyre", description="data, logs and generated credentials")
    project_root: Path = PROJECT_ROOT

    # --- services ----------------------------------------------------------------------------------
    bind_host: str = Field("127.0.0.1", description="address every embedded service listens on")
    database_url: SecretStr | None = Field(
        None, description="external PostgreSQL (with pgvector) for Gyre's data; unset = embedded"
    )
    redis_url: SecretStr | None = Field(None, description="external Redis; unset = embedded")
    postgres_port: Port = 54329
    redis_port: Port = 63799
    airflow_port: Port = 8080
    mlflow_port: Port = 5000
    mlflow_tracking_uri: str | None = Field(
        None, description="an MLflow server run elsewhere (compose, a team server); default: the embedded one"
    )
    feast_port: Port = Field(6566, description="Feast feature server (online features over HTTP)")
    airflow_worker_log_port: Port = Field(8793, description="where task logs are served while tasks run")
    airflow_trigger_log_port: Port = 8794
    airflow_parallelism: int = Field(4, ge=1, le=64, description="task slots across the whole Airflow")
    airflow_executor: Literal["local", "celery"] = Field(
        "local", description="local: LocalExecutor; celery: CeleryExecutor, Redis broker, local workers"
    )
    celery_workers: int = Field(2, ge=1, le=16, description="Celery worker processes `gyre up` starts")
    celery_worker_concurrency: int = Field(2, ge=1, le=64)
    startup_timeout_s: float = Field(240.0, gt=0)
    task_retry_delay_s: float = Field(300.0, ge=0, description="wait before an Airflow task's retry")

    # --- ingest and validation ---------------------------------------------------------------------
    landing_dir: Path | None = Field(None, description="where daily export files land; default <home>/landing")
    ingest_chunk_rows: int = Field(100_000, ge=1, description="rows read and validated at a time (bounds memory)")
    ingest_max_bad_share: float = Field(0.05, ge=0, le=1, description="a batch with more bad rows fails, loads nothing")
    ingest_row_count_band: float = Field(
        2.0, gt=1, description="a day's transactions must lie within median/band..median*band of recent days"
    )
    # Chargebacks are a few dozen a day and a fraud wave multiplies them: a band as tight as the transactions'
    # rejected a real wave's labels (2.2x the median), the very labels monitoring judges the model on.
    ingest_label_count_band: float = Field(
        4.0, gt=1, description="the same band for a day's chargebacks (a missing or repeated export, not a wave)"
    )
    ingest_history_days: int = Field(14, ge=1, description="recent loaded days the row-count rule compares with")

    # --- features ----------------------------------------------------------------------------------
    feature_skew_sample: int = Field(50, ge=1, le=10_000, description="entities per view the skew check compares")
    feature_skew_tolerance: float = Field(1e-6, gt=0, description="largest |online - offline| a feature may differ by")

    # --- streaming features ------------------------------------------------------------------------
    stream_name: str = Field("gyre:transactions", description="Redis stream (Kafka: topic) of transactions")
    stream_group: str = Field("intraday-features", description="consumer group whose position is the progress")
    stream_consumer: str = Field("consumer-1", description="this consumer's name; a restart re-reads its pending")
    stream_batch: int = Field(2000, ge=1, le=10_000, description="events read, scored, applied and pushed at a time")
    stream_claim_idle_ms: int = Field(30_000, ge=100, description="pending this long, another consumer claims it")
    stream_dedup_ttl_s: int = Field(7 * 86400, ge=60, description="how long a transaction id is remembered")
    stream_metrics_port: Port = Field(9109, description="the consumer's /metrics and /healthz on bind_host")
    stream_score: bool = Field(
        True, description="the consumer scores each event with the champion on the state before it, and logs it"
    )

    # --- monitoring and retraining -----------------------------------------------------------------
    drift_max_drifted_share: float = Field(0.3, gt=0, le=1, description="retrain when this share of features drifts")
    drift_key_features: str = Field(
        "txn_amount,amount_to_customer_mean_30d,txn_mcc",
        description="comma-separated features whose drift alone triggers a retrain",
    )
    drift_key_feature_psi: float = Field(0.2, gt=0, description="PSI at which a key feature counts as drifted")
    drift_prediction_psi: float = Field(0.2, gt=0, description="PSI of the score that triggers a retrain")
    drift_max_roc_auc_drop: float = Field(
        0.05, gt=0, le=1, description="allowed ROC-AUC drop on matured labels, beyond its sampling error"
    )
    retrain_cooldown_hours: float = Field(24.0, ge=0, description="no new retrain this soon after the last one")
    retrain_weekly_cap: int = Field(2, ge=1, description="retrains allowed in any 7 days")
    notify_webhook_url: SecretStr | None = Field(None, description="optional URL that receives every notification")

    # --- training and registry ---------------------------------------------------------------------
    model_name: str = Field("fraud_detector", description="registered model name in MLflow")
    feature_service: str = Field("fraud_model_v2", description="Feast FeatureService that is the model's inputs")
    training_window_days: int = Field(28, ge=1, description="days of transactions one training run learns from")
    training_label_delay_days: int = Field(
        14, ge=0, description="the window ends this many days before the run, so chargebacks have arrived"
    )
    training_min_rows: int = Field(2000, ge=10, description="a smaller training window fails and registers nothing")
    training_min_positives: int = Field(30, ge=3, description="fewest fraud labels a training window must hold")
    training_estimator: Literal["gradient_boosting", "lightgbm", "random_forest", "logistic_regression"] = Field(
        "lightgbm", description="the learner; recorded as the run's estimator param and gyre.estimator tag"
    )
    training_validation_share: float = Field(0.15, gt=0, lt=0.5, description="latest-but-one slice of the window")
    training_test_share: float = Field(0.15, gt=0, lt=0.5, description="latest slice; frozen as the gate's holdout")
    cost_missed_fraud: float = Field(25.0, gt=0, description="cost of one missed fraud, for the decision threshold")
    cost_false_alarm: float = Field(1.0, gt=0, description="cost of one false alarm, for the decision threshold")
    recall_at_fpr: float = Field(0.01, gt=0, lt=1, description="false-positive rate at which recall is reported")
    gate_pr_auc_margin: float = Field(0.005, ge=0, description="PR-AUC a challenger must add over the champion")
    gate_max_calibration_loss: float = Field(
        0.005, ge=0, description="largest allowed rise of calibration error (ECE) over the champion"
    )
    gate_min_pr_auc: float = Field(0.2, ge=0, le=1, description="floor a first model must clear")
    onnx_parity_tolerance: float = Field(1e-5, gt=0, description="largest |ONNX - scikit-learn| probability allowed")

    # --- serving -----------------------------------------------------------------------------------
    serving_port: Port = Field(3000, description="the scoring endpoint (BentoML) on bind_host")
    serving_api_keys: SecretStr | None = Field(
        None, description="comma-separated extra API keys; the generated serving key is always accepted"
    )
    serving_rate_limit: int = Field(6000, ge=1, description="requests one API key may make per rate window")
    serving_rate_window_s: int = Field(60, ge=1, le=3600, description="length of the rate-limit window")
    serving_max_body_bytes: int = Field(262_144, ge=1024, description="larger request bodies get 413")
    serving_max_batch: int = Field(500, ge=1, le=10_000, description="most transactions one /score_batch may carry")
    serving_poll_interval_s: float = Field(5.0, gt=0, description="how often the registry alias is checked")
    serving_log_queue: int = Field(10_000, ge=1, description="prediction-log rows buffered; more are dropped")
    serving_log_batch: int = Field(200, ge=1, description="prediction-log rows written per insert")
    serving_workers: int = Field(
        # One worker keeps a core busy (the request path never blocks); the other half runs Redis and the rest.
        default_factory=lambda: max(1, min(4, len(os.sched_getaffinity(0)) // 2)),
        ge=1,
        le=16,
        description="BentoML worker processes; default half the cores this process may run on (1 to 4)",
    )
    serving_feature_timeout_s: float = Field(
        0.25, gt=0, le=10, description="longest wait for the online store; past it /score answers 503"
    )
    serving_max_event_skew_days: float = Field(
        3650, gt=0, description="a transaction stamped further than this from now, either way, gets 422"
    )

    # --- rollout: how a version that passed the gate goes live ---------------------------------------
    rollout_mode: Literal["swap", "shadow", "canary"] = Field(
        "swap",
        description="swap: champion moves at once; shadow: stays challenger, scored in shadow only; canary: widens",
    )
    canary_steps: str = Field(
        "5,25,50,100", description="percent of customers on the canary per step, rising; reaching 100 completes"
    )
    canary_hold_minutes: float = Field(30.0, gt=0, description="how long a step holds before it may widen")
    canary_min_requests: int = Field(200, ge=1, description="canary requests a step needs before it may widen")
    canary_max_error_rate: float = Field(0.01, ge=0, le=1, description="share of canary requests that may fail")
    canary_max_latency_ratio: float = Field(1.5, ge=1, description="canary p99 allowed as a multiple of the champion's")
    canary_latency_slack_ms: float = Field(5.0, ge=0, description="added to that bound: sub-ms p99s are noise")
    canary_max_score_psi: float = Field(0.2, gt=0, description="PSI of canary scores against the champion's")
    canary_max_roc_auc_drop: float = Field(
        0.05, gt=0, le=1, description="ROC-AUC the canary may lose to the champion on matured labels"
    )

    # --- batch inference ---------------------------------------------------------------------------
    batch_chunk_rows: int = Field(
        50_000, ge=1, description="transactions a batch scores at a time: features, scores and write (bounds memory)"
    )

    # --- documents and answers ---------------------------------------------------------------------
    llm_provider: Literal["anthropic", "openai_compatible"] = Field(
        "anthropic", description="who writes answers: Claude, or a self-hosted OpenAI-compatible server"
    )
    anthropic_api_key: SecretStr | None = None
    anthropic_model: str = "claude-sonnet-4-5"
    anthropic_base_url: str | None = Field(None, description="Messages API endpoint; unset = Anthropic's own")
    anthropic_max_retries: int = Field(
        3, ge=0, le=10, description="retries (exponential backoff) before a 503; either provider"
    )
    anthropic_timeout_s: float = Field(30.0, gt=0, description="per-request timeout of the model; either provider")
    anthropic_max_tokens: int = Field(1024, ge=16, le=8192, description="longest answer generated; either provider")
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp), e.g. http://host:8000/v1",
    )
    llm_model: str | None = Field(None, description="the model that endpoint serves")
    llm_api_key: SecretStr | None = Field(None, repr=False, description="that endpoint's bearer key, if it wants one")
    llm_input_usd_per_mtok: float = Field(
        0.0, ge=0, description="what the self-hosted model's input costs per million tokens (counts to the budget)"
    )
    llm_output_usd_per_mtok: float = Field(0.0, ge=0, description="what its output costs per million tokens")
    rag_docs_dir: Path | None = Field(None, description="folder the document index mirrors; default docs_corpus/")
    rag_index_on_start: bool = Field(
        True, description="gyre up has Airflow run index_documents when the document index has no live version"
    )
    rag_golden_set: Path | None = Field(
        None, description="questions with the documents that answer them; default golden_set.json in the folder"
    )
    rag_embedding_model: str = Field(
        "all-MiniLM-L6-v2", description="'all-MiniLM-L6-v2' (the packaged weights) or a local model directory"
    )
    rag_embedding_batch: int = Field(32, ge=1, le=1024, description="texts embedded per batch")
    rag_embedding_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="the model's float type; auto: bfloat16 where the CPU has AMX or AVX-512 BF16, else float32"
    )
    rag_chunk_words: int = Field(160, ge=20, le=2000, description="longest chunk, in words")
    rag_chunk_overlap: int = Field(30, ge=0, le=500, description="words a chunk repeats from the one before")
    rag_max_file_bytes: int = Field(
        5_000_000, ge=1, description="larger documents are skipped, with the reason recorded (a long book is 2-3 MB)"
    )
    rag_top_k: int = Field(5, ge=1, le=50, description="chunks an answer is grounded in")
    rag_candidates: int = Field(40, ge=5, le=1000, description="candidates per retriever before fusion")
    rag_text_candidates: int = Field(
        500, ge=10, le=100_000, description="full-text matches ranked per question (two of its rarest words first)"
    )
    rag_rrf_k: int = Field(20, ge=1, description="reciprocal-rank-fusion constant")
    rag_vector_weight: float = Field(1.0, ge=0, description="weight of the vector ranking in the fusion")
    rag_text_weight: float = Field(1.5, ge=0, description="weight of the full-text ranking in the fusion")
    rag_hnsw_ef_search: int = Field(100, ge=10, le=1000, description="HNSW search breadth (recall vs latency)")
    rag_gate_min_recall_at_5: float = Field(0.8, ge=0, le=1, description="a new index version needs this recall@5")
    rag_gate_min_mrr: float = Field(0.6, ge=0, le=1, description="a new index version needs this MRR")
    rag_gate_max_drop: float = Field(0.02, ge=0, le=1, description="largest recall@5/MRR loss allowed vs the live one")
    rag_daily_budget_usd: float = Field(5.0, ge=0, description="generation spend per UTC day; then extractive answers")
    rag_judge_sample: int = Field(50, ge=1, le=10_000, description="answers of a day the nightly judge scores")
    rag_judge_min_faithfulness: float = Field(
        0.7, ge=0, le=1, description="a day's mean faithfulness below this notifies"
    )
    rag_judge_min_relevance: float = Field(
        0.5, ge=0, le=1, description="a day's mean answer relevance below this notifies"
    )
    langfuse_public_key: str | None = Field(None, description="tracing is off unless both keys are set")
    langfuse_secret_key: SecretStr | None = None
    langfuse_base_url: str = Field("https://cloud.langfuse.com", description="Langfuse server (OTLP/HTTP)")

    @field_validator("bind_host")
    @classmethod
    def _loopback_unless_asked(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be an address such as 127.0.0.1")
        return value

    @field_validator("canary_steps")
    @classmethod
    def _rising_percents_to_100(cls, value: str) -> str:
        try:
            steps = [float(part) for part in value.split(",")]
        except ValueError:
            raise ValueError("must be comma-separated percents such as 5,25,50,100") from None
        if any(not 0 < b <= 100 for b in steps) or any(a >= b for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("must be rising percents above 0 and at most 100, such as 5,25,50,100")
        if steps[-1] != 100 or len(steps) < 2:
            raise ValueError("must end at 100 after at least one smaller share (100 alone is GYRE_ROLLOUT_MODE=swap)")
        return value

    @property
    def canary_percents(self) -> tuple[float, ...]:
        return tuple(float(part) for part in self.canary_steps.split(","))

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def docs_dir(self) -> Path:
        return self.rag_docs_dir or self.project_root / "docs_corpus"

    @property
    def golden_set(self) -> Path:
        return self.rag_golden_set or self.docs_dir / "golden_set.json"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    allowed = first["msg"]
    value = first.get("input")
    shown = "" if value is None or "secret" in field or "url" in field or "key" in field else f" (got {value!r})"
    return f"invalid setting GYRE_{field.upper()}: {allowed}{shown}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one ``ConfigError`` line."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
