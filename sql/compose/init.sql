-- First start of the compose Postgres: the databases Gyre, Airflow and MLflow use, and pgvector.
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
\connect gyre
CREATE EXTENSION IF NOT EXISTS vector;
