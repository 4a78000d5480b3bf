-- Of the given days, those whose transactions and chargebacks are both validated: merchant fraud rates read the
-- labels reported before each transaction, so a day's features wait for both feeds.
select t.batch_date
from ingest_snapshot t
join ingest_snapshot l on l.feed = 'labels' and l.batch_date = t.batch_date
where t.feed = 'transactions'
  and t.batch_date = any(:days)
order by t.batch_date
