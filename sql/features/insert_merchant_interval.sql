-- Merchant features for every merchant with transactions in [:start, :end), as of its last transaction of the
-- interval t: volume over [t - 30d, t] and fraud among those transactions counted only from chargebacks
-- reported before :end (labels arrive late: a label reported after the batch is unknown to it, in training as
-- in serving). Stamped :end, when the batch makes the row available (see the customer features).
insert into merchant_features (
    merchant_id, event_timestamp, merch_txn_count_30d, merch_amount_sum_30d, merch_fraud_count_30d, merch_fraud_rate_30d
)
with history as (
    select merchant_id, event_timestamp, amount::double precision as amount
    from transactions
    where event_timestamp >= cast(:start as timestamptz) - interval '30 days' and event_timestamp < :end
),
windowed as (
    select merchant_id, event_timestamp,
           count(*) over w30d as c30d, sum(amount) over w30d as s30d
    from history
    window w30d as (partition by merchant_id order by event_timestamp range between interval '30 days' preceding and current row)
),
instants as (
    select distinct on (merchant_id) *
    from windowed
    where event_timestamp >= :start and event_timestamp < :end
    order by merchant_id, event_timestamp desc
),
fraud as materialized (
    select t.merchant_id, t.event_timestamp, l.reported_at
    from labels l
    join transactions t on t.transaction_id = l.transaction_id
    where t.event_timestamp >= cast(:start as timestamptz) - interval '30 days' and t.event_timestamp < :end
      and l.reported_at < :end
)
select i.merchant_id, cast(:end as timestamptz), i.c30d, i.s30d, f.n, f.n::double precision / i.c30d
from instants i
cross join lateral (
    select count(*) as n
    from fraud f
    where f.merchant_id = i.merchant_id
      and f.event_timestamp >= i.event_timestamp - interval '30 days' and f.event_timestamp <= i.event_timestamp
) f
