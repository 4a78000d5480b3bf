"""The transaction source: a realistic card-payments export, written into the landing zone day by day."""
