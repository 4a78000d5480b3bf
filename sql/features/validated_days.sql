-- Days whose transactions and chargebacks are both validated (merchant fraud rates read the labels reported
-- before each transaction, so a day's features wait for both feeds), and whether each still lacks feature rows:
-- asset events that arrive while a build runs can be coalesced by the scheduler, so each run also catches these up.
select t.batch_date,
       t.rows > 0 and not exists (
           select 1 from customer_features c
           where c.event_timestamp = (t.batch_date + 1)::timestamp at time zone 'UTC'
       ) as unbuilt
from ingest_snapshot t
join ingest_snapshot l on l.feed = 'labels' and l.batch_date = t.batch_date
where t.feed = 'transactions'
order by t.batch_date
