select digest from feature_repo_applied where project = :project
