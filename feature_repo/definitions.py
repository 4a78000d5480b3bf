"""Gyre's feature definitions: entities, feature views over the tables sql/features computes, the request-time
on-demand view, and the FeatureServices that are models' input contracts.

The intraday views are fed by the stream consumer through push sources (gyre.streaming): one row per
transaction and entity, the state right after it, stamped a microsecond later. Their batch sources are the
tables gyre.streaming.backfill fills with the same aggregation code over the ingested history.

The feature tables hold one row per entity and day it transacted, stamped at the day's end, when the daily
batch makes it available (see sql/features/schema.sql): training joins each transaction with the state as of
the end of the previous day, which is what serving reads from Redis when the transaction arrives.
"""

from datetime import timedelta

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, PushSource, RequestSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from gyre.features import request
from gyre.streaming.aggregate import CUSTOMER, MERCHANT
from gyre.streaming.aggregate import Entity as StreamEntity

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
    # Serving runs the same code on plain columns, without a DataFrame (gyre.serving.features).
    tags={"columns": "gyre.features.request:request_columns"},
)
def transaction_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Request-time features; the code is gyre.features.request, shared by training and serving."""
    from gyre.features import request as shared

    return shared.transaction_features(inputs)


# Model inputs: the customer's history (without the raw timestamp, used only to compute the gap), the
# merchant's volume and known fraud, and the request-time features. Feature names are unique across views.
V1_FEATURES = [
    customer_features[[f.name for f in customer_features.features if f.name != "cust_last_txn_epoch_s"]],
    merchant_features,
    transaction_features,
]
fraud_model_v1 = FeatureService(
    name="fraud_model_v1",
    features=V1_FEATURES,
    description="inputs of the fraud model, version 1",
    tags={"model": "fraud_detector"},
)


def _intraday_view(kind: StreamEntity, entity: Entity) -> FeatureView:
    """A streamed view: pushed online by the consumer, read offline from the backfill's table."""
    source = PushSource(
        name=f"{kind.kind}_intraday_push",
        batch_source=PostgreSQLSource(
            name=f"{kind.kind}_intraday_source",
            table=f"{kind.kind}_intraday_features",
            timestamp_field="event_timestamp",
        ),
    )
    return FeatureView(
        name=f"{kind.kind}_intraday",
        entities=[entity],
        ttl=timedelta(days=30),
        schema=[Field(name=name, dtype=Int64 if "_txn_count_" in name else Float64) for name in kind.features],
        source=source,
        online=True,
        tags={"stage": "streaming"},
    )


customer_intraday = _intraday_view(CUSTOMER, customer)
merchant_intraday = _intraday_view(MERCHANT, merchant)


@on_demand_feature_view(
    sources=[customer_intraday, merchant_intraday, transaction_request],
    schema=[Field(name=name, dtype=Float64) for name in request.INTRADAY_OUTPUTS],
    tags={"columns": "gyre.features.request:intraday_columns"},
)
def intraday_request_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Time since the entities' previous transactions; the code is gyre.features.request, shared by both paths."""
    from gyre.features import request as shared

    return shared.intraday_features(inputs)


def _without_last(view: FeatureView) -> FeatureView:
    return view[[f.name for f in view.features if not f.name.endswith("_last_txn_epoch_s")]]


# Version 2: version 1's inputs unchanged, plus the streamed intraday state of the customer and the merchant.
fraud_model_v2 = FeatureService(
    name="fraud_model_v2",
    features=[
        *V1_FEATURES,
        _without_last(customer_intraday),
        _without_last(merchant_intraday),
        intraday_request_features,
    ],
    description="inputs of the fraud model, version 2: version 1 plus intraday (streamed) features",
    tags={"model": "fraud_detector"},
)
