"""Loading landing files into Postgres: robust chunked reading, quarantine, idempotent interval loads."""
