"""`gyre demo`: the whole loop turning by itself on a running platform, step by step, through Airflow.

Every step is what an operator or the scheduler would do: files land, `ingest_transactions` is backfilled
(its Assets start `build_features`), `train_model` promotes a champion, a night's traffic is published to the
transaction stream, whose consumer scores and logs it, then a drift scenario lands and `monitor_drift` checks
the night. From there nobody touches anything: the drift report asks for a retrain, `train_model` gates and
promotes, `deploy_model` builds the Bento and the endpoint swaps to the new champion. The demo only watches and
reports.

The timeline is laid out backwards from today (T), with the platform's training window W and label delay
L, so the retrain that monitoring asks for (as of now) trains on drifted days:

    history     H        .. T-W-5    imported before the platform goes live, so the champion's holdout, like
                                    the traffic after it, sees full 30-day feature windows
    clean days  T-W-4    .. T-W-2   land and go through Airflow; the champion trains on T-2W-L-1 .. T-W-L-2 as
                                    of T-W-1 (with the labels reported up to then), and serves night T-W-1,
                                    which is replayed
    drift days  T-W      .. T-1     nights T-L-1 and T-1 replayed, T-1 checked (T-L-1's labels have matured
                                    by then: the quality rules judge it); the retrain learns T-W-L .. T-L-1

A night is replayed before its own file lands, as in production: its transactions are scored on the
features the previous day's batch put online, then the export arrives and is ingested.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.table import Table

from gyre.config import Settings
from gyre.services.airflow_api import AirflowClient

# The first is the default, the one that turns the whole loop: fraud moves to account takeover, the features barely
# move, and the champion's ROC-AUC on the matured night falls far beyond its sampling error (0.964 -> 0.624); the
# retrained model beats it at the gate. amount_inflation is detected in the features and its retrained model wins
# the gate too (on fraud_model_v2; on v1 the champion kept ranking fraud as well); new_mcc_mix is detected in the
# features, and on fraud_model_v1 the gate kept the champion.
DAGS = ("ingest_transactions", "build_features", "train_model", "monitor_drift", "deploy_model")
DAY = dt.timedelta(days=1)
ROLLOUTS = ("swap", "canary")
CANARY_ACTIONS = ("hold", "widen", "complete", "roll_back")  # the branches of `canary_rollout`
MAX_CANARY_CHECKS = 12  # four steps, each held a check or two longer when traffic is short
# The longest feature window, plus the holdout's share of a training window: the champion's holdout must not
# see windows still filling, or the first clean night (whose windows are fuller) would look drifted.
HISTORY_DAYS = 30 + 5
# Clean days that go through Airflow before the first training; the days before them are imported in process
# (the same ingest and feature code, a seventh of the time: through Airflow the champion's whole window and label
# delay, three weeks, took five of the demo's minutes).
CLEAN_DAYS_THROUGH_AIRFLOW = 3
# The demo takes about 13 minutes; a retrain that monitoring asks for after midnight UTC trains as of a new day.
MIDNIGHT_MARGIN = dt.timedelta(minutes=30)
T = TypeVar("T")


class DemoError(RuntimeError):
    """A step of the loop did not do what it should; the message says which and where to look."""


@dataclass(frozen=True)
class Timeline:
    today: dt.date
    window_days: int
    label_delay_days: int

    @property
    def days(self) -> int:
        return (self.today - self.first_history).days

    @property
    def first_history(self) -> dt.date:
        return self.first_clean - dt.timedelta(days=max(0, HISTORY_DAYS - self.window_days))

    @property
    def first_clean(self) -> dt.date:
        """The first day of the champion's training window."""
        return self.clean_night - dt.timedelta(days=self.window_days + self.label_delay_days)

    @property
    def first_landed(self) -> dt.date:
        """The first day that lands as a file and goes through Airflow; the days before it are history."""
        return self.clean_night - dt.timedelta(days=CLEAN_DAYS_THROUGH_AIRFLOW)

    @property
    def first_drift(self) -> dt.date:
        return self.today - dt.timedelta(days=self.window_days)

    @property
    def champion_as_of(self) -> dt.datetime:
        """The start of the clean night, the first the champion serves."""
        return midnight(self.clean_night)

    @property
    def clean_night(self) -> dt.date:
        return self.first_drift - DAY

    @property
    def drift_night(self) -> dt.date:
        return self.today - DAY

    @property
    def matured_night(self) -> dt.date:
        """The night whose labels the drift night's check judges quality on (the label delay earlier)."""
        return self.drift_night - dt.timedelta(days=self.label_delay_days)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


@dataclass
class Step:
    name: str
    seconds: float
    outcome: str


@dataclass
class DemoResult:
    steps: list[Step] = field(default_factory=list)
    first_champion: str | None = None
    final_champion: str | None = None
    served_version: str | None = None
    canary: str | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 2.0) -> T:
    """Poll ``check`` until it returns something; a timeout names what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(every_s)
    raise DemoError(f"{what} did not happen within {timeout_s:.0f} s")


class Demo:
    def __init__(
        self, settings: Settings, scenario: str, console: Console, seed: int = 42, rollout: str | None = None
    ) -> None:
        from gyre.services.credentials import load_or_create
        from gyre.services.serving import serving_url
        from gyre.streaming.stream import gyre_stream

        self.settings = settings
        self.scenario = scenario
        self.seed = seed
        self.rollout = rollout or settings.rollout_mode
        self.console = console
        self.timeline = Timeline(
            dt.datetime.now(dt.UTC).date(), settings.training_window_days, settings.training_label_delay_days
        )
        self.airflow = AirflowClient(settings)
        self.endpoint = httpx.Client(
            base_url=serving_url(settings),
            headers={"X-API-Key": load_or_create(settings.home)[0].serving_api_key},
            timeout=60,
        )
        self.stream = gyre_stream(settings)
        self.result = DemoResult()

    # --- progress ---------------------------------------------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """One line of progress while the step runs, one line with its outcome and duration when it ends."""
        outcome: list[str] = []
        started = time.monotonic()
        with self.console.status(f"{name}…"):
            yield outcome
        seconds = time.monotonic() - started
        self.result.steps.append(Step(name, seconds, "; ".join(outcome)))
        self.console.log(f"[green]✓[/] {name} ({seconds:.0f} s): {'; '.join(outcome)}", highlight=False)

    # --- the loop ---------------------------------------------------------------------------------------------
    def run(self) -> DemoResult:
        from gyre.registry import models
        from gyre.rollout.canary import CANARY

        line = self.timeline
        name = self.settings.model_name
        if not self.settings.stream_score:
            raise DemoError("the demo's nights are scored by the stream consumer: unset GYRE_STREAM_SCORE=false")
        if self.rollout not in ROLLOUTS or self.rollout != self.settings.rollout_mode:
            raise DemoError(
                f"--rollout {self.rollout}: the platform goes live by GYRE_ROLLOUT_MODE={self.settings.rollout_mode}; "
                f"start it with GYRE_ROLLOUT_MODE={self.rollout} (the demo shows {' or '.join(ROLLOUTS)})"
            )
        left = midnight(line.today + DAY) - dt.datetime.now(dt.UTC)
        if left < MIDNIGHT_MARGIN:
            raise DemoError(
                f"{left.total_seconds() / 60:.0f} min to midnight UTC: the retrain would run as of tomorrow, whose "
                f"export does not exist yet; start the demo after 00:00 UTC"
            )
        self.console.log(
            f"timeline: {line.days} days of traffic from {line.first_history} (training window {line.window_days} d, "
            f"label delay {line.label_delay_days} d), drift scenario {self.scenario}",
            highlight=False,
        )
        with self.step("Airflow DAGs parsed and unpaused") as out:
            dags = DAGS + (("canary_rollout",) if self.rollout == "canary" else ())
            for dag_id in dags:
                self.airflow.wait_for_dag(dag_id)
                self.airflow.unpause(dag_id)
            out.append(", ".join(dags))
        self.import_history(line.first_history, line.first_landed - DAY)
        self.land_and_ingest(line.first_landed, line.clean_night - DAY, "baseline")
        with self.step(f"train_model as of {line.champion_as_of:%Y-%m-%d}") as out:
            run_id = self.airflow.trigger(
                "train_model", logical_date=line.champion_as_of, conf={"request_id": f"demo:{line.champion_as_of:%F}"}
            )
            out.append(self.training_outcome(run_id))
            self.result.first_champion = models.version_of(name, models.CHAMPION)
            if self.result.first_champion is None:
                raise DemoError("no champion after the first training; see the train_model run in Airflow")
            tags = models.client().get_model_version(name, self.result.first_champion).tags
            out.append(f"champion v{self.result.first_champion} on {tags.get('gyre.feature_service')}")
        self.wait_served(self.result.first_champion)
        decision = self.replay_and_check(line.clean_night, "baseline")
        if decision != "no action":
            raise DemoError(f"the nightly check on clean traffic asked for a retrain: {decision}")

        self.land_and_ingest(line.clean_night, line.matured_night - DAY, self.scenario, scenario_from=line.first_drift)
        self.replay(line.matured_night, self.scenario)
        self.land_and_ingest(line.matured_night, line.drift_night - DAY, self.scenario)
        started = dt.datetime.now(dt.UTC)
        self.replay(line.drift_night, self.scenario)
        self.ingest_scheduled_night(line.drift_night)  # the retrain, as of today, needs the night's chargebacks
        decision = self.check(line.drift_night)
        if decision != "retrain":
            raise DemoError(f"the nightly check on {self.scenario} traffic did not ask for a retrain: {decision}")
        with self.step("retrain started by the Asset retrain_request") as out:
            run = wait_for(
                "a train_model run from the retrain request", lambda: self.asset_run("train_model", started), 300
            )
            out.append(self.training_outcome(run["dag_run_id"]))
            canary = models.version_of(name, CANARY) if self.rollout == "canary" else None
            if canary:
                out.append(f"v{canary} is the canary")
            else:
                self.result.final_champion = models.version_of(name, models.CHAMPION)
                out.append(f"champion v{self.result.first_champion} -> v{self.result.final_champion}")
        if canary:
            self.result.canary = self.roll_out_canary(canary)
            self.result.final_champion = models.version_of(name, models.CHAMPION)
        if self.result.final_champion != self.result.first_champion:
            with self.step("deploy_model started by the Asset champion_model") as out:
                run = wait_for("a deploy_model run", lambda: self.asset_run("deploy_model", started), 300)
                state = self.airflow.wait_for_run("deploy_model", run["dag_run_id"], timeout_s=900)
                out.append(f"bentoml build: {state}")
            self.wait_served(self.result.final_champion)
        self.result.reports = self.report_index()
        return self.result

    def import_history(self, first: dt.date, last: dt.date) -> None:
        """Past exports loaded before the platform goes live, with the code the DAGs' tasks run, in this process:
        ingest (validated, quarantined, audited), the day's feature rows, then one materialization. Through
        Airflow, at about 14 s a day, these weeks alone would take most of the demo's time."""
        from gyre.data.writer import days, write_day
        from gyre.features.compute import compute_interval, day_interval
        from gyre.features.materialize import apply_if_changed, materialize_interval
        from gyre.ingest.load import ingest
        from gyre.streaming.backfill import backfill_interval

        count = (last - first).days + 1
        if count <= 0:
            return
        apply_if_changed(self.settings)
        with self.step(f"{count} days of history imported ({first} .. {last}), before the platform goes live") as out:
            rows = 0
            for day in days(first, last):
                write_day(self.settings.landing, day, seed=self.seed)
                rows += ingest("transactions", day, settings=self.settings, publish_docs=False).rows_loaded
                ingest("labels", day, settings=self.settings, publish_docs=False)
                compute_interval(*day_interval(day), intraday=False)
                self.console.log(f"  history {day}: ingested, features computed", highlight=False)
            start, end = day_interval(first)[0], day_interval(last)[1]
            intraday = backfill_interval(start, end)  # one pass: every day's rows need the 30 days before it
            online = materialize_interval(start, end)
            out.append(
                f"{rows:,} transactions loaded, {intraday.customer_rows + intraday.merchant_rows:,} intraday rows, "
                f"{online.entities:,} entities online"
            )

    def land(self, first: dt.date, last: dt.date, scenario: str, scenario_from: dt.date | None = None) -> None:
        """The days' exports in the landing zone; days before ``scenario_from`` are clean."""
        from gyre.data.writer import days, write_day

        count = (last - first).days + 1
        with self.step(f"{count} days of {scenario} traffic landed ({first} .. {last})") as out:
            for day in days(first, last):
                clean = scenario_from is not None and day < scenario_from
                write_day(self.settings.landing, day, seed=self.seed, scenario="baseline" if clean else scenario)
            out.append(str(self.settings.landing) + (f", clean before {scenario_from}" if scenario_from else ""))

    def land_and_ingest(
        self, first: dt.date, last: dt.date, scenario: str, scenario_from: dt.date | None = None
    ) -> None:
        from gyre.data.writer import days
        from gyre.features.compute import days_without_features

        count = (last - first).days + 1
        self.land(first, last, scenario, scenario_from)
        with self.step(f"ingest_transactions backfilled, build_features on its Assets ({first} .. {last})") as out:
            backfill = self.airflow.backfill("ingest_transactions", midnight(first), midnight(last), max_active_runs=2)
            runs = wait_for(
                "the ingest backfill",
                lambda: self.finished_backfill(first, last),
                timeout_s=120 + 90 * count,
            )
            failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
            if failed:
                raise DemoError(f"ingest runs failed: {failed}")
            wanted = {day.isoformat() for day in days(first, last)}
            wait_for(
                "feature rows for every day",
                lambda: None if wanted & set(days_without_features()) else True,
                timeout_s=120 + 60 * count,
            )
            wait_for("the backfill to close", lambda: self.airflow.backfill_completed(backfill) or None, timeout_s=300)
            # A day's rows are written before its run materializes them: the next replay must find them online.
            wait_for("build_features to finish materializing", self.features_settled, timeout_s=300)
            out.append(f"{count} ingest runs succeeded, features built and materialized for every day")

    def replay(self, night: dt.date, scenario: str) -> None:
        """The night's traffic through the stream, as it arrived (``publish_and_score``). The days before it landed
        as files and never went through the stream, so the consumer's state is seeded first from their ingested
        transactions (`gyre stream seed`), as the offline intraday rows training reads were computed."""
        from gyre.streaming.backfill import seed_state

        with self.step(f"{night} replayed through the stream {self.settings.stream_name} ({scenario})") as out:
            seeded = seed_state(midnight(night), settings=self.settings)
            out.append(f"{seeded:,} entity states seeded as of {night}")
            out.append(self.publish_and_score(night, scenario))

    def publish_and_score(self, day: dt.date, scenario: str) -> str:
        """Publish the day's transactions to the stream in event-time order; the stream consumer scores each on the
        state before it and logs it as /score does. Waits until every one is in the prediction log."""
        from gyre.data import source
        from gyre.db import apply_schema
        from gyre.streaming.replay import publish

        apply_schema(("serving/schema.sql",))  # the consumer makes the table on its first write, maybe not yet
        frame = source.transactions(self.seed, day, scenario).sort_values(["event_timestamp", "transaction_id"])
        bodies = [transaction_body(row) for row in frame.itertuples()]
        publish(self.stream, bodies)
        ids = [body["transaction_id"] for body in bodies]
        versions = wait_for(
            f"the stream consumer scoring all {len(ids)} transactions of {day} (its log: "
            f"{self.settings.logs_dir / 'stream.log'})",
            lambda: self.scored(ids),
            timeout_s=300,
        )
        answered = ", ".join(f"v{version} {count:,}" for version, count in sorted(versions.items()))
        return f"{len(ids):,} transactions scored by the stream consumer ({answered})"

    def roll_out_canary(self, version: str) -> str:
        """The canary's steps on live traffic: each step gets a day of traffic through the stream, then, once its
        hold is over, a ``canary_rollout`` run checks both arms and widens, completes or rolls back (the DAG's
        five-minute schedule would do the same, later). Returns how the rollout ended."""
        from gyre.registry import audit
        from gyre.rollout.canary import CanaryRules, canary

        name, rules = self.settings.model_name, CanaryRules.from_settings(self.settings)
        day = self.timeline.today
        for _ in range(MAX_CANARY_CHECKS):
            state = canary(name)
            if state is None or state.version != version:
                ended = next((m for m in audit.history(name, 5) if m.action in ("canary", "rollback")), None)
                return ended.reason if ended else f"canary v{version} ended"
            with self.step(f"canary v{version} on {state.percent:g} % of customers, live traffic of {day}") as out:
                # The consumer follows the registry by polling it: a day replayed in seconds must start once it
                # has read the step's share, or most of it would be routed by the step before.
                time.sleep(2 * self.settings.serving_poll_interval_s + 1)
                out.append(self.publish_and_score(day, self.scenario))
                day += DAY
                time.sleep(max(0.0, (state.since + rules.hold - dt.datetime.now(dt.UTC)).total_seconds()))
                run_id = self.airflow.trigger("canary_rollout")
                if self.airflow.wait_for_run("canary_rollout", run_id, timeout_s=600) != "success":
                    raise DemoError(f"canary_rollout run {run_id} failed; see its task logs in Airflow")
                tasks = {t["task_id"]: t["state"] for t in self.airflow.task_instances("canary_rollout", run_id)}
                action = next((task for task in CANARY_ACTIONS if tasks.get(task) == "success"), "no canary")
                newest = audit.history(name, 1)
                out.append(f"canary_rollout: {action}" + (f": {newest[0].reason}"[:300] if action != "hold" else ""))
        raise DemoError(f"the canary v{version} neither completed nor rolled back in {MAX_CANARY_CHECKS} checks")

    def scored(self, transaction_ids: list[str]) -> dict[str, int] | None:
        """The versions that answered these transactions, once every one of them is in the prediction log."""
        from gyre.db import engine, query

        with engine().connect() as connection:
            rows = connection.execute(query("serving/versions_scored.sql"), {"transaction_ids": transaction_ids})
            versions = {row.model_version: row.transactions for row in rows}
        return versions if sum(versions.values()) >= len(transaction_ids) else None

    def replay_and_check(self, night: dt.date, scenario: str) -> str:
        """Replay the night, then run that night's drift check; returns its decision."""
        self.replay(night, scenario)
        return self.check(night)

    def check(self, night: dt.date) -> str:
        """Run that night's ``monitor_drift``; returns its decision."""
        with self.step(f"monitor_drift for the night of {night}") as out:
            run_id = self.airflow.trigger("monitor_drift", logical_date=midnight(night + DAY))
            state = self.airflow.wait_for_run("monitor_drift", run_id, timeout_s=900)
            tasks = {t["task_id"]: t["state"] for t in self.airflow.task_instances("monitor_drift", run_id)}
            if state != "success" or tasks.get("report") != "success":
                raise DemoError(f"monitor_drift run {run_id} ended {state}: {tasks}")
            decision = "retrain" if tasks.get("retrain") == "success" else "no action"
            report = next((r for r in self.report_index() if r["night"].startswith(str(night))), {})
            out.append(f"{decision}: {'; '.join(report.get('reasons') or []) or 'no rule fired'}"[:300])
        return decision

    def ingest_scheduled_night(self, night: dt.date) -> None:
        """The night's export lands; the scheduled ``ingest_transactions`` run of that day, which found no file
        and has failed or waits to retry, is cleared (its export is there now), and must succeed."""
        self.land(night, night, self.scenario)
        with self.step(f"scheduled ingest_transactions of {night} ran on the landed export") as out:
            run = wait_for(
                f"the scheduled ingest_transactions run of {night}",
                lambda: next(
                    (
                        r
                        for r in self.airflow.runs("ingest_transactions")
                        if r["data_interval_start"][:10] == str(night)
                    ),
                    None,
                ),
                timeout_s=120,
            )
            if run["state"] == "failed":
                self.airflow.clear("ingest_transactions", run["dag_run_id"])
                out.append(f"cleared {run['dag_run_id']}")
            else:  # a task waiting out its retry delay (minutes) runs now
                tasks = self.airflow.task_instances("ingest_transactions", run["dag_run_id"])
                if waiting := [t["task_id"] for t in tasks if t["state"] == "up_for_retry"]:
                    self.airflow.clear_tasks("ingest_transactions", run["dag_run_id"], waiting)
                    out.append(f"retried {', '.join(waiting)} now")
            state = self.airflow.wait_for_run("ingest_transactions", run["dag_run_id"], timeout_s=900)
            if state != "success":
                raise DemoError(f"ingest_transactions run {run['dag_run_id']} ended {state}")
            out.append(f"{run['dag_run_id']}: {state}")

    def training_outcome(self, run_id: str) -> str:
        state = self.airflow.wait_for_run("train_model", run_id, timeout_s=1200)
        tasks = {t["task_id"]: t["state"] for t in self.airflow.task_instances("train_model", run_id)}
        if state != "success":
            failed = [task for task, task_state in tasks.items() if task_state == "failed"]
            raise DemoError(f"train_model run {run_id} {state} at {failed}; see its task logs in Airflow")
        verdict = (
            "promoted"
            if tasks.get("promote") == "success"
            else "rolled out"
            if tasks.get("roll_out") == "success"
            else "rejected by the gate"
        )
        return f"run {run_id}: {verdict}"

    def wait_served(self, version: str) -> None:
        from gyre.data import source

        body = {"transaction": transaction_body(next(source.transactions(self.seed, self.timeline.today).itertuples()))}

        def serves() -> str | None:
            try:
                response = self.endpoint.post("/score", json=body)
            except httpx.HTTPError:
                return None
            served = response.json().get("model_version") if response.status_code == 200 else None
            return served if served == version else None

        with self.step(f"endpoint serves v{version}") as out:
            self.result.served_version = wait_for(f"the endpoint serving v{version}", serves, timeout_s=300)
            out.append(f"POST /score answered with model_version {self.result.served_version}")

    # --- what the platform recorded ---------------------------------------------------------------------------
    def finished_backfill(self, first: dt.date, last: dt.date) -> list[dict] | None:
        from gyre.data.writer import days

        wanted = {day.isoformat() for day in days(first, last)}
        runs = {
            r["data_interval_start"][:10]: r
            for r in self.airflow.runs("ingest_transactions")
            if r["dag_run_id"].startswith("backfill__")
        }
        if not wanted <= set(runs) or any(runs[d]["state"] not in ("success", "failed") for d in wanted):
            return None
        return [runs[d] for d in sorted(wanted)]

    def features_settled(self) -> bool | None:
        """``True`` once no ``build_features`` run is queued or running."""
        busy = [r for r in self.airflow.runs("build_features") if r["state"] in ("queued", "running")]
        return None if busy else True

    def asset_run(self, dag_id: str, after: dt.datetime) -> dict | None:
        for run in self.airflow.runs(dag_id):
            queued = dt.datetime.fromisoformat(run["queued_at"] or run["run_after"])
            if run["run_type"] == "asset_triggered" and queued >= after:
                return run
        return None

    def report_index(self) -> list[dict[str, Any]]:
        from gyre.monitoring.web import list_reports

        return list_reports(limit=20)


def transaction_body(row: Any) -> dict[str, Any]:
    """A generated transaction (a row of ``source.transactions(...).itertuples()``) in the endpoint's schema."""
    return {
        "transaction_id": row.transaction_id,
        "customer_id": row.customer_id,
        "merchant_id": row.merchant_id,
        "event_timestamp": row.event_timestamp.isoformat(),
        "amount": float(row.amount),
        "channel": row.channel,
        "mcc": str(row.mcc),
        "merchant_country": row.merchant_country,
        "customer_country": row.customer_country,
        "card_age_days": int(row.card_age_days),
    }


def summary(result: DemoResult, settings: Settings) -> Table:
    from gyre.monitoring.web import DRIFT_REPORTS_PREFIX
    from gyre.services.endpoints import airflow_url, mlflow_url

    table = Table(title=f"Gyre demo: the loop turned in {result.seconds / 60:.1f} min")
    table.add_column("step")
    table.add_column("s", justify="right")
    table.add_column("outcome")
    for step in result.steps:
        table.add_row(step.name, f"{step.seconds:.0f}", step.outcome)
    table.add_section()
    table.add_row(
        "champion", "", f"v{result.first_champion} -> v{result.final_champion} (served: v{result.served_version})"
    )
    if result.canary:
        table.add_row("canary", "", result.canary)
    reports = f"{airflow_url(settings)}{DRIFT_REPORTS_PREFIX}"
    for report in result.reports[:4]:
        link = f"{reports}/reports/{report['night']}/{report['model_version']}"
        table.add_row(f"drift report {report['night'][:10]} (v{report['model_version']})", "", link)
    table.add_row("drift reports", "", f"{reports}/  (files under {settings.home / 'reports' / 'drift'})")
    table.add_row("Airflow", "", airflow_url(settings))
    table.add_row("MLflow", "", mlflow_url(settings))
    return table
