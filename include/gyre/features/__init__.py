"""The features stage: feature tables computed per interval in Postgres, Feast definitions over them,
materialization into Redis, and the online lookup serving calls."""
