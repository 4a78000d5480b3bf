"""The embedded services behind `gyre up`: PostgreSQL+pgvector, Redis, Airflow 3 and MLflow."""

# in start order; named here so the CLI can offer them without importing the services
ALL_SERVICES = ("postgres", "redis", "mlflow", "feast", "stream", "serving", "airflow")
