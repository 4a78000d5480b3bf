"""The embedded services behind `gyre up`: PostgreSQL+pgvector, Redis, Airflow 3 and MLflow."""
