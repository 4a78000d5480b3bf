"""Gyre: the production ML loop on Airflow 3, and a document index answered with citations."""

import logging

__version__ = "0.1.0"

# Great Expectations logs at INFO one line per function its API-docs registry skips on every import, and its
# context and metric registry chatter: most of an ingest task's log. Its warnings and errors still show.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
