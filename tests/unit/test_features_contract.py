"""The feature contract in code: the repo's definitions, the request-time function, and the frames that mirror them."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

from gyre.config import get_settings
from gyre.features.request import transaction_features
from gyre.training.spec import FRAUD
from gyre.training.synthetic import SERVICE_FEATURES, fraud_frame


@pytest.fixture(scope="module")
def definitions():
    path = get_settings().project_root / "feature_repo" / "definitions.py"
    spec = importlib.util.spec_from_file_location("gyre_feature_definitions", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_synthetic_frame_has_the_service_columns_in_order(definitions) -> None:
    service = definitions.fraud_model_v1
    assert service.name == "fraud_model_v1"  # the synthetic frame is version 1; v2 adds the streamed features
    names = [f.name for projection in service.feature_view_projections for f in projection.features]
    assert tuple(names) == SERVICE_FEATURES
    assert len(set(names)) == len(names)
    frame = fraud_frame(dt.date(2026, 3, 2), 2)
    assert FRAUD.features(list(frame.columns)) == list(SERVICE_FEATURES)


def test_behaviour_cases_use_service_features() -> None:
    for case in FRAUD.behaviour:
        used = case.columns - FRAUD.not_features
        assert used <= set(SERVICE_FEATURES), (case.name, used - set(SERVICE_FEATURES))


def test_request_features_from_inputs() -> None:
    inputs = pd.DataFrame(
        {
            "amount": [120.0, 5.0, 40.0],
            "cust_amount_mean_30d": [40.0, None, 0.0],
            "cust_last_txn_epoch_s": [1_773_964_800.0 - 90.0, None, 1.0],
            "event_timestamp": pd.to_datetime(
                ["2026-03-20 00:00:00", "2026-03-20 03:15:00", "2026-03-20 23:59:59"], utc=True
            ),
            "merchant_country": ["FR", "DE", None],
            "customer_country": ["DE", "DE", "DE"],
            "channel": ["ecom", "pos", None],
            "mcc": [5411, 5411.0, None],
            "card_age_days": [10, None, 3],
        }
    )
    out = transaction_features(inputs)
    assert out["txn_amount"].tolist() == [120.0, 5.0, 40.0]
    assert out["amount_to_customer_mean_30d"].iloc[0] == pytest.approx(3.0)
    assert np.isnan(out["amount_to_customer_mean_30d"].iloc[1]) and np.isnan(out["amount_to_customer_mean_30d"].iloc[2])
    assert out["hour_of_day"].tolist() == [0.0, 3.0, 23.0]
    assert out["is_foreign"].iloc[0] == 1.0 and out["is_foreign"].iloc[1] == 0.0 and np.isnan(out["is_foreign"].iloc[2])
    assert out["seconds_since_prev_txn"].iloc[0] == pytest.approx(90.0)
    assert np.isnan(out["seconds_since_prev_txn"].iloc[1])
    assert out["txn_mcc"].tolist() == ["5411", "5411", "__missing__"]
    assert out["txn_channel"].tolist() == ["ecom", "pos", "__missing__"]


def test_request_time_from_epoch_seconds_equals_from_datetimes() -> None:
    """The feature server's JSON carries epoch seconds; the SDK carries datetimes: same features."""
    at = pd.Timestamp("2041-02-02 09:30:00", tz="UTC")
    base = {"amount": [10.0], "cust_amount_mean_30d": [5.0], "cust_last_txn_epoch_s": [at.timestamp() - 60],
            "merchant_country": ["DE"], "customer_country": ["DE"], "channel": ["pos"], "mcc": [5411],
            "card_age_days": [1.0]}  # fmt: skip
    from_datetime = transaction_features(pd.DataFrame({**base, "event_timestamp": [at]}))
    from_epoch = transaction_features(pd.DataFrame({**base, "event_timestamp": [int(at.timestamp())]}))
    pd.testing.assert_frame_equal(from_datetime, from_epoch)
    assert from_epoch["hour_of_day"].iloc[0] == 9.0 and from_epoch["seconds_since_prev_txn"].iloc[0] == 60.0


def test_days_to_build_come_from_the_request_and_the_ingest_events() -> None:
    from types import SimpleNamespace

    from airflow.sdk import Asset

    from gyre.features.compute import days_to_build

    transactions, labels = Asset("validated_transactions"), Asset("validated_labels")
    events = {
        transactions: [SimpleNamespace(extra={"day": "2026-03-02"}), SimpleNamespace(extra={"day": "2026-03-01"})],
        labels: [SimpleNamespace(extra={"day": "2026-02-01"})],
    }
    feeds = ("validated_transactions", "validated_labels")
    assert days_to_build(None, events, ("validated_transactions",)) == ["2026-03-01", "2026-03-02"]
    assert days_to_build(None, events, feeds) == ["2026-02-01", "2026-03-01", "2026-03-02"]
    assert days_to_build("2026-03-05", None, feeds) == ["2026-03-05"]
    assert days_to_build(None, {transactions: [SimpleNamespace(extra=None)]}, feeds) == []
    with pytest.raises(ValueError, match="2026-13-01"):
        days_to_build("2026-13-01", None, feeds)


def test_a_champion_taking_features_its_service_does_not_serve_is_not_ready(definitions) -> None:
    """A v2 model behind GYRE_FEATURE_SERVICE=fraud_model_v1 would get its intraday inputs as missing values:
    the endpoint says so (/readyz, 503) instead; a v1 model behind v2 (a superset) is served."""
    from types import SimpleNamespace

    from gyre.features.online import feature_names
    from gyre.serving.runtime import Runtime

    v1, v2 = feature_names(definitions.fraud_model_v1), feature_names(definitions.fraud_model_v2)
    assert set(v1) < set(v2)

    def runtime(service_name: str, model_inputs: list[str]) -> Runtime:
        champion = SimpleNamespace(version="7", inputs=model_inputs)
        holder = SimpleNamespace(champion=champion, not_ready_reason=lambda: None)
        features = SimpleNamespace(service=getattr(definitions, service_name), refresh=lambda: None)
        settings = get_settings().model_copy(update={"feature_service": service_name})
        return Runtime(settings, holder=holder, features=features, predictions=SimpleNamespace())

    reason = runtime("fraud_model_v1", v2).not_ready_reason()
    assert reason is not None and "fraud_model_v1" in reason and "GYRE_FEATURE_SERVICE" in reason
    assert "takes 26 features" in reason and "cust_rt_amount_mean_1h" in reason
    assert runtime("fraud_model_v2", v1).not_ready_reason() is None
    assert runtime("fraud_model_v2", v2).not_ready_reason() is None
