insert into model_alias_audit (model_name, action, alias, from_version, to_version, metrics, reason)
values (:model_name, :action, :alias, :from_version, :to_version, cast(:metrics as jsonb), :reason)
returning id, moved_at
