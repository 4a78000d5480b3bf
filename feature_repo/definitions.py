"""Gyre's feature definitions: entities, feature views over the tables sql/features computes, the request-time
on-demand view, and the FeatureServices that are models' input contracts.

The feature tables hold one row per entity and day it transacted, stamped at the day's end, when the daily
batch makes it available (see sql/features/schema.sql): training joins each transaction with the state as of
the end of the previous day, which is what serving reads from Redis when the transaction arrives.
"""

from datetime import timedelta

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, RequestSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from gyre.features import request

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING, description="card holder")
merchant = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.STRING, description="acceptor")

customer_source = PostgreSQLSource(
    name="customer_features_source", table="customer_features", timestamp_field="event_timestamp"
)
merchant_source = PostgreSQLSource(
    name="merchant_features_source", table="merchant_features", timestamp_field="event_timestamp"
)

customer_features = FeatureView(
    name="customer_features",
    entities=[customer],
    # The longest window: a customer silent for longer has no history worth reading (null, not stale).
    ttl=timedelta(days=30),
    schema=[
        *[Field(name=f"cust_txn_count_{w}", dtype=Int64) for w in ("1h", "24h", "7d", "30d")],
        *[Field(name=f"cust_amount_sum_{w}", dtype=Float64) for w in ("1h", "24h", "7d", "30d")],
        *[Field(name=f"cust_amount_mean_{w}", dtype=Float64) for w in ("1h", "24h", "7d", "30d")],
        Field(name="cust_amount_std_30d", dtype=Float64),
        Field(name="cust_amount_max_30d", dtype=Float64),
        Field(name="cust_distinct_merchants_30d", dtype=Int64),
        Field(name="cust_distinct_countries_30d", dtype=Int64),
        Field(name="cust_last_txn_epoch_s", dtype=Float64),
    ],
    source=customer_source,
    online=True,
    tags={"stage": "features"},
)

merchant_features = FeatureView(
    name="merchant_features",
    entities=[merchant],
    ttl=timedelta(days=7),
    schema=[
        Field(name="merch_txn_count_30d", dtype=Int64),
        Field(name="merch_amount_sum_30d", dtype=Float64),
        Field(name="merch_fraud_count_30d", dtype=Int64),
        Field(name="merch_fraud_rate_30d", dtype=Float64),
    ],
    source=merchant_source,
    online=True,
    tags={"stage": "features"},
)

transaction_request = RequestSource(
    name="transaction_request",
    schema=[
        Field(name="amount", dtype=Float64),
        Field(name="merchant_country", dtype=String),
        Field(name="customer_country", dtype=String),
        Field(name="channel", dtype=String),
        Field(name="mcc", dtype=Int64),
        Field(name="card_age_days", dtype=Float64),
        Field(name="event_timestamp", dtype=UnixTimestamp),
    ],
)


@on_demand_feature_view(
    sources=[customer_features, transaction_request],
    schema=[
        *[Field(name=name, dtype=Float64) for name in request.NUMERIC_OUTPUTS],
        *[Field(name=name, dtype=String) for name in request.TEXT_OUTPUTS],
    ],
)
def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Request-time features; the code is gyre.features.request, shared by training and serving."""
    from gyre.features import request as shared

    return shared.transaction_features(inputs)


# Model inputs: the customer's history (without the raw timestamp, used only to compute the gap), the
# merchant's volume and known fraud, and the request-time features. Feature names are unique across views.
fraud_model_v1 = FeatureService(
    name="fraud_model_v1",
    features=[
        customer_features[[f.name for f in customer_features.features if f.name != "cust_last_txn_epoch_s"]],
        merchant_features,
        transaction_features,
    ],
    description="inputs of the fraud model, version 1",
    tags={"model": "fraud_detector"},
)
