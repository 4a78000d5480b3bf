insert into feature_repo_applied (project, digest, applied_at) values (:project, :digest, now())
on conflict (project) do update set digest = excluded.digest, applied_at = excluded.applied_at
