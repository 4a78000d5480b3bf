-- Statements of one interval's load, run in a single transaction. {table}, {stage}, {key}, {time} and
-- {columns} are identifiers composed with psycopg.sql; values are always bound parameters.

-- name: lock_interval
select pg_advisory_xact_lock(hashtext(%(feed)s || ':' || %(batch_date)s::text));

-- name: create_stage
create temp table {stage} (like {table} including defaults) on commit drop;

-- name: create_quarantine_stage
create temp table stage_quarantine (like quarantine including defaults) on commit drop;

-- name: copy_table
-- A chunk's valid rows, straight into the table (the interval's rows were deleted first, in this transaction).
copy {table} ({columns}) from stdin with (format csv);

-- name: copy_stage
-- Valid rows whose key the table already holds, for the duplicate and known-elsewhere rules.
copy {stage} ({columns}) from stdin with (format csv);

-- name: savepoint_chunk
savepoint chunk;

-- name: rollback_chunk
rollback to savepoint chunk;

-- name: release_chunk
release savepoint chunk;

-- name: analyze_interval
-- The planner has no statistics for the rows this transaction wrote: without them it took the interval for a
-- few thousand rows and sorted a million on disk for the digest (0.8 s) where the key's index gives their order.
analyze {table} ({time});

-- name: keys_held
select {key} from {table} where {key} = any(%(keys)s);

-- name: unload_held
-- This load's rows whose key is held in the stage, or among rows GE flagged as duplicates, go back to the
-- stage, so that the rules below see every copy of the key together.
with moved as (
    delete from {table} t
    where t.{time} >= %(start)s and t.{time} < %(end)s
      and t.{key} in (select {key} from {stage}
                      union
                      select raw ->> %(key)s from stage_quarantine where %(reason)s = any(reasons))
    returning t.*
), unloaded as (
    insert into {stage} select * from moved returning source_file
)
select source_file, count(*) from unloaded group by source_file;

-- name: copy_quarantine
copy stage_quarantine (feed, batch_date, source_file, line_number, raw, reasons) from stdin;

-- name: move_duplicates
-- A key seen twice in the interval (across chunks or files, or among rows GE already flagged as
-- duplicates) is ambiguous: every copy goes to quarantine.
with moved as (
    delete from {stage} s
    where s.{key} in (select {key} from {stage} group by {key} having count(*) > 1)
       or s.{key} in (select raw ->> %(key)s from stage_quarantine where %(reason)s = any(reasons))
    returning s.*
)
insert into stage_quarantine (feed, batch_date, source_file, line_number, raw, reasons)
select %(feed)s, %(batch_date)s, source_file, line_number,
       to_jsonb(moved) - 'source_file' - 'line_number', array[%(reason)s]
from moved;

-- name: move_known_elsewhere
-- A key already loaded for another interval would make the load depend on order: quarantine it.
with moved as (
    delete from {stage} s
    using {table} t
    where t.{key} = s.{key} and not (t.{time} >= %(start)s and t.{time} < %(end)s)
    returning s.*
)
insert into stage_quarantine (feed, batch_date, source_file, line_number, raw, reasons)
select %(feed)s, %(batch_date)s, source_file, line_number,
       to_jsonb(moved) - 'source_file' - 'line_number', array[%(reason)s]
from moved;

-- name: quarantined_per_file
select source_file, count(*) from stage_quarantine group by source_file;

-- name: reason_counts
select reason, count(*) from stage_quarantine, unnest(reasons) as reason group by reason;

-- name: median_amount
select percentile_cont(0.5) within group (order by amount)::float8
from {table} where {time} >= %(start)s and {time} < %(end)s;

-- name: delete_interval
delete from {table} where {time} >= %(start)s and {time} < %(end)s;

-- name: insert_interval
-- What the rules above left in the stage (nothing, unless a clashing row went away meanwhile).
with inserted as (insert into {table} select * from {stage} returning source_file)
select source_file, count(*) from inserted group by source_file;

-- name: delete_quarantine
delete from quarantine where feed = %(feed)s and batch_date = %(batch_date)s;

-- name: insert_quarantine
insert into quarantine select * from stage_quarantine;

-- name: delete_audit
delete from ingest_audit where feed = %(feed)s and batch_date = %(batch_date)s;

-- name: insert_audit
insert into ingest_audit (feed, batch_date, source_file, encoding, rows_in, rows_loaded, rows_quarantined,
                          missing_columns, extra_columns)
values (%(feed)s, %(batch_date)s, %(source_file)s, %(encoding)s, %(rows_in)s, %(rows_loaded)s,
        %(rows_quarantined)s, %(missing_columns)s, %(extra_columns)s);

-- name: recent_row_counts
select batch_date, sum(rows_in)::bigint
from ingest_audit
where feed = %(feed)s and batch_date < %(batch_date)s and batch_date >= %(since)s
group by batch_date;

-- name: interval_rows
copy (select {columns} from {table} where {time} >= %(start)s and {time} < %(end)s order by {key}) to stdout;

-- name: replace_snapshot
insert into ingest_snapshot (feed, batch_date, rows, digest)
values (%(feed)s, %(batch_date)s, %(rows)s, %(digest)s)
on conflict (feed, batch_date) do update set rows = excluded.rows, digest = excluded.digest;

-- name: snapshots
select batch_date, rows, digest from ingest_snapshot
where feed = %(feed)s and batch_date >= %(first)s and batch_date <= %(last)s
order by batch_date;

-- name: export_rows
select {columns} from {table} where {time} >= %(start)s and {time} < %(end)s order by {key};

-- name: record_rejection
-- Why the interval's latest load changed nothing (a broken batch rule, a file that cannot be read at all).
insert into ingest_rejection (feed, batch_date, rejected_as, reasons, source_files, rows_in, rows_quarantined,
                              row_reasons)
values (%(feed)s, %(batch_date)s, %(rejected_as)s, %(reasons)s, %(source_files)s, %(rows_in)s,
        %(rows_quarantined)s, %(row_reasons)s)
on conflict (feed, batch_date) do update
set rejected_as = excluded.rejected_as, reasons = excluded.reasons, source_files = excluded.source_files,
    rows_in = excluded.rows_in, rows_quarantined = excluded.rows_quarantined, row_reasons = excluded.row_reasons,
    rejected_at = now();

-- name: delete_rejection
delete from ingest_rejection where feed = %(feed)s and batch_date = %(batch_date)s;
