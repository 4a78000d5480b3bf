insert into feature_drift (interval_start, model_version, feature, method, score, threshold, drifted, psi)
values (:interval_start, :model_version, :feature, :method, :score, :threshold, :drifted, :psi)
on conflict (interval_start, model_version, feature) do update set
    method = excluded.method, score = excluded.score, threshold = excluded.threshold,
    drifted = excluded.drifted, psi = excluded.psi
