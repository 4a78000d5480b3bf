-- A re-run of the same night rewrites its decision but never resets a retrain already under way.
insert into retrain_decisions (interval_start, interval_end, model_version, retrain, reasons, blocked_by, status)
values (:interval_start, :interval_end, :model_version, :retrain, cast(:reasons as jsonb), cast(:blocked_by as jsonb),
        :status)
on conflict (interval_start) do update set
    interval_end = excluded.interval_end, model_version = excluded.model_version, retrain = excluded.retrain,
    reasons = excluded.reasons, blocked_by = excluded.blocked_by,
    status = case when retrain_decisions.status in ('running', 'done', 'failed') then retrain_decisions.status
                  else excluded.status end
