-- The staged batch into the log; a retried write of the same row (request and role) changes nothing.
insert into prediction_log select * from prediction_log_stage on conflict (request_id, role) do nothing
