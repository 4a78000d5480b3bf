"""
### Build the features of each validated day and serve them from Redis

Runs when ingest validates a day's transactions **or** its chargebacks (Assets `validated_transactions` and
`validated_labels`), and builds the days whose two feeds are both in: merchant fraud rates read the labels
reported before each transaction, so a day's features wait for its label load. Either event starts a run
because the scheduler may fold one feed's event into a run that starts before the other feed lands; under
an "and" schedule that day would then wait for the next day's events. Trigger it by hand with
`{"day": "YYYY-MM-DD"}` to rebuild one day.

1. `plan`: the days to build: the requested day and the `day` of each triggering ingest event (a backfill's queued
   events come as one run) whose two feeds are validated, plus every validated day that has no feature rows yet;
   a run whose days still wait for their other feed is skipped;
2. `compute_features`: delete and insert each day's rows of `customer_features` and `merchant_features`
   (SQL in `sql/features/`), in one transaction per day: a re-run gives the same rows; then the day's intraday
   rows (`customer_intraday_features`, `merchant_intraday_features`: the stream consumer's aggregation run over
   the ingested transactions, one row per transaction and entity), which `fraud_model_v2` trains on;
3. `apply_definitions`: `feast apply` only when `feature_repo/` changed since the last apply;
4. `materialize`: each day's latest daily and intraday row per customer and merchant into Redis (a newer value
   already online, such as one the stream consumer pushed, wins);
5. `check_freshness`: every entity of the day is online with its latest row, or the run fails;
6. `check_skew`: sampled transactions read as serving reads them (Redis) and as training reads them (offline
   as-of join) give equal features within `GYRE_FEATURE_SKEW_TOLERANCE`, or the run fails; then the Asset
   `online_features` is updated with the days, row counts and the skew sample.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, Param, dag, task

from gyre.dag_defaults import default_args

VALIDATED_TRANSACTIONS = Asset("validated_transactions")
VALIDATED_LABELS = Asset("validated_labels")
ONLINE_FEATURES = Asset("online_features")


def _intervals(days: list[str]) -> list[tuple[dt.datetime, dt.datetime]]:
    from gyre.features.compute import day_interval

    return [day_interval(dt.date.fromisoformat(day)) for day in days]


@dag(
    schedule=VALIDATED_TRANSACTIONS | VALIDATED_LABELS,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # one apply and one materialization at a time
    params={"day": Param(None, type=["null", "string"], format="date", description="build this day (YYYY-MM-DD)")},
    tags=["gyre", "features", "feast"],
    default_args=default_args(),
    doc_md=__doc__,
)
def build_features() -> None:
    @task
    def plan(params=None, triggering_asset_events=None) -> list[str]:  # noqa: ANN001
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from gyre.features.compute import days_to_build, days_without_features, validated_days

        requested = (params or {}).get("day")
        feeds = (VALIDATED_TRANSACTIONS.name, VALIDATED_LABELS.name)
        try:
            asked = days_to_build(requested, triggering_asset_events, feeds)
        except ValueError as error:
            raise AirflowFailException(f"invalid day: {error}") from error
        ready = validated_days(asked)
        if requested and requested not in ready:
            raise AirflowFailException(f"day {requested}: its transactions and chargebacks are not both ingested")
        days = sorted({*ready, *days_without_features()})
        if not days:
            raise AirflowSkipException(f"nothing to build yet: {', '.join(asked) or 'no day'} waits for its other feed")
        return days

    @task
    def compute_features(days: list[str]) -> dict[str, Any]:
        from gyre.features.compute import compute_interval

        rows = {day: vars(compute_interval(*interval)) for day, interval in zip(days, _intervals(days), strict=True)}
        return {day: {k: r[k] for k in ("customer_rows", "merchant_rows", "intraday_rows")} for day, r in rows.items()}

    @task
    def apply_definitions() -> bool:
        from gyre.features.materialize import apply_if_changed

        return apply_if_changed()

    @task
    def materialize(days: list[str], computed: dict[str, Any], applied: bool) -> dict[str, Any]:
        from gyre.features.materialize import materialize_interval

        done = [materialize_interval(*interval) for interval in _intervals(days)]
        return {"entities": sum(m.entities for m in done), "seconds": round(sum(m.seconds for m in done), 2)}

    @task
    def check_freshness(days: list[str], materialized: dict[str, Any]) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.features.materialize import FeatureCheckFailed
        from gyre.features.materialize import check_freshness as check

        try:
            return sum(check(*interval).entities for interval in _intervals(days))
        except FeatureCheckFailed as error:
            raise AirflowFailException(str(error)) from error

    @task(outlets=[ONLINE_FEATURES])
    def check_skew(days: list[str], computed: dict[str, Any], fresh: int, outlet_events=None) -> dict[str, Any]:  # noqa: ANN001
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.config import get_settings
        from gyre.features.materialize import FeatureCheckFailed
        from gyre.features.materialize import check_skew as check

        try:
            results = [check(*interval) for interval in _intervals(days)]
        except FeatureCheckFailed as error:
            raise AirflowFailException(str(error)) from error
        summary = {
            "days": days,
            "rows": computed,
            "fresh_entities": fresh,
            "skew_checked": sum(r.rows for r in results),
            "feature_service": get_settings().feature_service,
        }
        outlet_events[ONLINE_FEATURES].extra = summary
        return summary

    days = plan()
    computed = compute_features(days)
    materialized = materialize(days, computed, apply_definitions())
    check_skew(days, computed, check_freshness(days, materialized))


dag = build_features()

if __name__ == "__main__":
    dag.test()
