-- Customer features for every customer with transactions in [:start, :end): the state right after the
-- customer's last transaction of the interval t, windows [t - w, t] over the customer's transactions (all
-- those at t included) read from the 30 days before the interval on. The row is stamped :end, when the batch
-- that computes it makes it available: a transaction later in the same interval is scored by serving before
-- this row exists, so training must not see it either (sql/features/schema.sql).
insert into customer_features (
    customer_id, event_timestamp, cust_txn_count_1h, cust_txn_count_24h, cust_txn_count_7d, cust_txn_count_30d,
    cust_amount_sum_1h, cust_amount_sum_24h, cust_amount_sum_7d, cust_amount_sum_30d, cust_amount_mean_1h,
    cust_amount_mean_24h, cust_amount_mean_7d, cust_amount_mean_30d, cust_amount_std_30d, cust_amount_max_30d,
    cust_distinct_merchants_30d, cust_distinct_countries_30d, cust_last_txn_epoch_s
)
with history as (
    select customer_id, event_timestamp, amount::double precision as amount
    from transactions
    where event_timestamp >= cast(:start as timestamptz) - interval '30 days' and event_timestamp < :end
),
windowed as (
    select customer_id, event_timestamp,
           count(*) over w1h as c1h, count(*) over w24h as c24h, count(*) over w7d as c7d, count(*) over w30d as c30d,
           sum(amount) over w1h as s1h, sum(amount) over w24h as s24h, sum(amount) over w7d as s7d,
           sum(amount) over w30d as s30d,
           coalesce(stddev_pop(amount) over w30d, 0) as std30d, max(amount) over w30d as max30d
    from history
    window w1h as (partition by customer_id order by event_timestamp range between interval '1 hour' preceding and current row),
           w24h as (partition by customer_id order by event_timestamp range between interval '24 hours' preceding and current row),
           w7d as (partition by customer_id order by event_timestamp range between interval '7 days' preceding and current row),
           w30d as (partition by customer_id order by event_timestamp range between interval '30 days' preceding and current row)
),
instants as (
    select distinct on (customer_id) *
    from windowed
    where event_timestamp >= :start and event_timestamp < :end
    order by customer_id, event_timestamp desc
)
select i.customer_id, cast(:end as timestamptz),
       i.c1h, i.c24h, i.c7d, i.c30d, i.s1h, i.s24h, i.s7d, i.s30d,
       i.s1h / i.c1h, i.s24h / i.c24h, i.s7d / i.c7d, i.s30d / i.c30d,
       i.std30d, i.max30d, d.merchants, d.countries,
       extract(epoch from i.event_timestamp)::double precision
from instants i
-- Distinct merchants and countries of each customer's 30 days, joined over the days the time index reads: an
-- index per customer made the ingest's COPY maintain a third index (2.4 s of Postgres per million rows), and a
-- lookup per customer without it reads the whole table each time.
join (
    select i.customer_id, count(distinct t.merchant_id) as merchants, count(distinct t.merchant_country) as countries
    from instants i
    join transactions t on t.customer_id = i.customer_id
     and t.event_timestamp >= i.event_timestamp - interval '30 days' and t.event_timestamp <= i.event_timestamp
    where t.event_timestamp >= cast(:start as timestamptz) - interval '30 days' and t.event_timestamp < :end
    group by i.customer_id
) d on d.customer_id = i.customer_id
