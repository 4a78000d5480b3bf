-- Retrains asked for by earlier nights: what the guardrails count.
select interval_end as requested_at, status in ('done', 'failed') as finished
from retrain_decisions
where retrain and interval_start < :before
order by interval_start
