-- What validation said about the window's days: files, rows in, loaded and quarantined.
select count(distinct batch_date) as days, count(*) as files, coalesce(sum(rows_in), 0) as rows_in,
       coalesce(sum(rows_loaded), 0) as rows_loaded, coalesce(sum(rows_quarantined), 0) as rows_quarantined
from ingest_audit
where feed = :feed and batch_date >= :first and batch_date <= :last
