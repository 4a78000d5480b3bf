"""Canary rollout on the real registry, Postgres and Redis: the serving runtime routes a hashed share of customers
to the canary and logs the arm; the rollout's check widens, completes, or rolls back a canary that does not load
or fails on requests, while the champion answers every request."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gyre.config import load_settings
from gyre.registry import audit, models
from gyre.rollout import canary
from gyre.serving.model import BUCKETS, CanaryArm, bucket
from gyre.serving.runtime import Runtime
from tests.integration import serving_support as support
from tests.integration.airflow_support import migrated_airflow_env

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "canary_rollout.py"
_RUN = """
import json, runpy
dag = runpy.run_path({dag_file!r})["dag"]
run = dag.test()
states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
print("RESULT", json.dumps({{"state": str(run.state), "tasks": states}}))
"""


@pytest.fixture(scope="module")
def rollout(mlflow_tracking_uri: str, database_url: str, redis_url: str) -> Iterator[SimpleNamespace]:
    """v1 champion, v2 a good candidate, v3 a broken export; a serving runtime in canary mode (polled by hand)."""
    from gyre.features.materialize import apply_if_changed

    apply_if_changed()
    settings = load_settings(
        model_name=f"fraud_canary_{uuid.uuid4().hex[:8]}",
        training_min_rows=500,
        training_estimator="logistic_regression",
        rollout_mode="canary",
        canary_steps="20,50,100",
        canary_hold_minutes=0.001,
        canary_min_requests=50,
        serving_poll_interval_s=3600,
    )
    champion, candidate = support.register_versions(settings, 2)
    support.promote(settings, champion)
    broken = support.register_broken(settings, candidate)
    runtime = Runtime.start(settings)
    try:
        yield SimpleNamespace(settings=settings, runtime=runtime, v1=champion, v2=candidate, broken=broken)
    finally:
        runtime.stop()


def _score(runtime: Runtime, bodies: list[dict[str, Any]], batch: int = 100) -> list[Any]:
    from gyre.serving.schema import Transaction

    results = []
    for i in range(0, len(bodies), batch):
        results += runtime.score([Transaction(**body) for body in bodies[i : i + batch]])
    runtime.predictions.flush()
    return results


def _logged(request_ids: list[str]) -> list[Any]:
    import sqlalchemy as sa

    from gyre.db import engine

    with engine().connect() as connection:
        return connection.execute(
            sa.text("select role, arm, model_version, error from prediction_log where request_id::text = any(:ids)"),
            {"ids": request_ids},
        ).all()


def test_a_hash_of_the_customer_routes_the_share_one_model_per_customer_and_the_log_says_which(rollout) -> None:
    name, v2 = rollout.settings.model_name, rollout.v2
    customers = [f"C{i:06d}" for i in range(20_000)]
    on = {p: {c for c in customers if bucket(name, v2, c) < p * BUCKETS / 100} for p in (20, 50)}
    assert abs(len(on[20]) / len(customers) - 0.20) < 0.01 and abs(len(on[50]) / len(customers) - 0.50) < 0.01
    assert on[20] <= on[50], "widening must only add customers"

    canary.start(v2, "test", {}, rollout.settings)
    rollout.runtime.holder.refresh()
    arm = rollout.runtime.holder.canary
    assert (arm.model.version, arm.percent) == (v2, 20.0)
    bodies = support.transactions(600)
    results = _score(rollout.runtime, bodies) + _score(rollout.runtime, bodies[::-1], batch=1)
    seen: dict[str, set[str]] = defaultdict(set)
    for body, result in zip(bodies + bodies[::-1], results, strict=True):
        seen[body["customer_id"]].add(result.model_version)
    assert all(len(versions) == 1 for versions in seen.values()), "a customer was answered by two models"
    expected = {c: v2 if arm.takes(c) else rollout.v1 for c in seen}
    assert {c: next(iter(v)) for c, v in seen.items()} == expected
    assert 0.1 < sum(v == {v2} for v in seen.values()) / len(seen) < 0.3

    rows = _logged([r.request_id for r in results])
    answers = [r for r in rows if r.role == "champion"]
    assert len(answers) == len(results) and all(r.error is None for r in rows)
    assert {(r.arm, r.model_version) for r in answers} == {("canary", v2), ("champion", rollout.v1)}
    assert {(r.arm, r.model_version) for r in rows if r.role == "challenger"} <= {("challenger", v2)}  # the shadow


def test_a_healthy_canary_widens_then_completes_and_the_champion_moves(rollout) -> None:
    settings, runtime, name = rollout.settings, rollout.runtime, rollout.settings.model_name
    bodies = support.transactions(1000, seed=12)
    canary.start(rollout.v2, "test", {}, settings)
    runtime.holder.refresh()
    _score(runtime, bodies)
    verdict = canary.check(settings)
    assert (verdict.action, verdict.percent, verdict.next_percent) == ("widen", 20.0, 50.0), verdict
    assert verdict.metrics["canary_error_rate"] == 0 and verdict.metrics["score_psi"] < 0.2
    canary.apply(verdict, settings)
    runtime.holder.refresh()
    assert runtime.holder.canary.percent == 50.0

    _score(runtime, bodies)
    verdict = canary.check(settings)
    assert (verdict.action, verdict.next_percent) == ("complete", 100.0), verdict
    canary.apply(verdict, settings)
    assert models.version_of(name, models.CHAMPION) == rollout.v2
    assert models.version_of(name, models.PREVIOUS) == rollout.v1
    assert models.version_of(name, canary.CANARY) is None
    moves = audit.history(name)
    assert (moves[0].action, moves[0].alias, moves[0].from_version) == ("canary", "canary", rollout.v2)
    promoted = next(m for m in moves if m.action == "promote" and m.alias == models.CHAMPION)
    assert (promoted.from_version, promoted.to_version) == (rollout.v1, rollout.v2)
    assert "canary complete after 50%" in promoted.reason
    assert any(m.action == "canary" and "widened 20% -> 50%" in m.reason for m in moves)
    runtime.holder.refresh()
    assert runtime.holder.champion.version == rollout.v2 and runtime.holder.canary is None


def test_a_canary_whose_onnx_does_not_load_is_rolled_back_by_one_dag_run_while_the_champion_answers(
    rollout, tmp_path: Path
) -> None:
    """``canary_rollout`` under dag.test(): its one check finds the broken export and takes the roll_back branch."""
    settings, runtime, name = rollout.settings, rollout.runtime, rollout.settings.model_name
    champion = models.version_of(name, models.CHAMPION)
    canary.start(rollout.broken, "test", {}, settings)
    runtime.holder.refresh()
    assert runtime.holder.canary is None and "canary" in runtime.holder.last_error
    results = _score(runtime, support.transactions(200, seed=13))
    assert {r.model_version for r in results} == {champion}

    env = migrated_airflow_env(tmp_path, DAG_FILE.parent, GYRE_MODEL_NAME=name, GYRE_CANARY_STEPS="20,50,100")
    script = _RUN.format(dag_file=str(DAG_FILE))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    logs = result.stdout + result.stderr
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, logs[-4000:]
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["state"].endswith("success"), outcome
    assert {task: state.rsplit(".", 1)[-1] for task, state in outcome["tasks"].items()} == {
        "check": "success", "roll_back": "success", "hold": "skipped", "widen": "skipped", "complete": "skipped"
    }  # fmt: skip
    assert models.version_of(name, canary.CANARY) is None
    assert models.version_of(name, models.CHAMPION) == champion
    last = audit.history(name)[0]
    assert (last.action, last.alias, last.from_version, last.to_version) == ("rollback", "canary", rollout.broken, None)
    assert f"champion {champion} untouched" in last.reason and "does not load" in last.reason
    assert "[rollback]" in logs, "no notifier event"


def test_a_canary_that_fails_on_requests_is_answered_by_the_champion_logged_and_rolled_back(rollout) -> None:
    """The stand-in for a model that loads but fails at run time: the canary's real ONNX session fed one input
    short, so onnxruntime refuses every run."""
    settings, runtime, name = rollout.settings, rollout.runtime, rollout.settings.model_name
    champion = models.version_of(name, models.CHAMPION)
    canary.start(rollout.v1, "test", {}, settings)
    runtime.holder.refresh()
    good = runtime.holder.canary.model
    short = copy.copy(good.scorer)
    short.numeric = good.scorer.numeric[:-1]
    runtime.holder.canary = CanaryArm(dataclasses.replace(good, scorer=short), 20.0)

    results = _score(runtime, support.transactions(400, seed=14))
    assert {r.model_version for r in results} == {champion}
    rows = _logged([r.request_id for r in results])
    failed = [r for r in rows if r.arm == "canary"]
    assert failed and all(r.error and "canary version" in r.error and r.model_version == champion for r in failed)

    verdict = canary.check(settings)
    assert verdict.action == "roll_back" and verdict.metrics["canary_error_rate"] == 1.0, verdict
    canary.apply(verdict, settings)
    assert models.version_of(name, canary.CANARY) is None and models.version_of(name, models.CHAMPION) == champion
    runtime.holder.refresh()
    assert runtime.holder.canary is None


def test_a_first_model_is_promoted_in_every_mode_and_later_ones_follow_the_rollout_mode(rollout) -> None:
    from gyre.rollout import swaps

    fresh = rollout.settings.model_copy(update={"model_name": f"fraud_first_{uuid.uuid4().hex[:8]}"})
    assert swaps(fresh), "no champion yet: there is nothing to judge a canary against"
    assert not swaps(rollout.settings), "a champion serves: the canary mode applies"
    assert swaps(rollout.settings.model_copy(update={"rollout_mode": "swap"}))
