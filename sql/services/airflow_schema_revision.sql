-- The Alembic revision Airflow's metadata database is at; null when it was never migrated.
select case when to_regclass('alembic_version') is null then null
            else (select string_agg(version_num, ',' order by version_num) from alembic_version) end
