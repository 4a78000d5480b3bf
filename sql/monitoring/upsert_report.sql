insert into drift_reports (interval_start, interval_end, model_version, reference_rows, current_rows, drifted_share,
                           drifted_features, prediction_psi, roc_auc, html_path, json_path, mlflow_run_id)
values (:interval_start, :interval_end, :model_version, :reference_rows, :current_rows, :drifted_share,
        :drifted_features, :prediction_psi, :roc_auc, :html_path, :json_path, :mlflow_run_id)
on conflict (interval_start, model_version) do update set
    interval_end = excluded.interval_end, reference_rows = excluded.reference_rows,
    current_rows = excluded.current_rows, drifted_share = excluded.drifted_share,
    drifted_features = excluded.drifted_features, prediction_psi = excluded.prediction_psi,
    roc_auc = excluded.roc_auc, html_path = excluded.html_path, json_path = excluded.json_path,
    mlflow_run_id = excluded.mlflow_run_id
