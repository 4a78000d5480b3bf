-- The files of one night's report for one model version.
select html_path, json_path from drift_reports where interval_start = :interval_start and model_version = :model_version
