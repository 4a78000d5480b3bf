-- Fresh statistics for the tables the point-in-time join reads: loaded minutes ago, autovacuum may not
-- have analyzed them yet, and without statistics Postgres plans Feast's join over 15k rows for minutes.
analyze transactions, labels, customer_features, merchant_features
