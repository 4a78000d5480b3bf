-- The report index, newest night first, with each night's decision beside it; optionally one night and version.
select r.interval_start, r.interval_end, r.model_version, r.reference_rows, r.current_rows, r.drifted_share,
       r.drifted_features, r.prediction_psi, r.roc_auc, r.html_path, r.json_path, r.mlflow_run_id,
       d.retrain, d.reasons, d.blocked_by, d.status
from drift_reports r
left join retrain_decisions d on d.interval_start = r.interval_start and d.model_version = r.model_version
where (cast(:interval_start as timestamptz) is null or r.interval_start = :interval_start)
  and (cast(:model_version as text) is null or r.model_version = :model_version)
order by r.interval_start desc, r.model_version desc
limit :limit
