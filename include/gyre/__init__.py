"""Gyre: the production ML loop on Airflow 3, and a document index answered with citations."""

__version__ = "0.1.0"
