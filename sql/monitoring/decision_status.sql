-- Where a night's retrain stands ('none', 'requested', 'running', 'done', 'failed'), if the night was decided.
select status from retrain_decisions where interval_start = :interval_start
