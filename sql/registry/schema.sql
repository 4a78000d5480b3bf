-- Registry audit: one row per alias move (and per gate rejection, or a version kept in shadow, which move nothing
-- but say why). ``canary`` rows are a canary rollout's start and widening steps.
create table if not exists model_alias_audit (
    id            bigserial primary key,
    moved_at      timestamptz not null default now(),
    model_name    text        not null,
    action        text        not null check (action in ('challenger', 'promote', 'reject', 'rollback', 'canary', 'shadow')),
    alias         text,
    from_version  text,
    to_version    text,
    metrics       jsonb       not null default '{}'::jsonb,
    reason        text        not null
);
create index if not exists model_alias_audit_model on model_alias_audit (model_name, moved_at);
-- Tables made before canary rollouts allow their actions too; checked first, so no lock is taken once done.
do $$
begin
    if not exists (
        select 1 from pg_constraint
        where conname = 'model_alias_audit_action_check' and position('canary' in pg_get_constraintdef(oid)) > 0
    ) then
        alter table model_alias_audit drop constraint if exists model_alias_audit_action_check;
        alter table model_alias_audit add constraint model_alias_audit_action_check
            check (action in ('challenger', 'promote', 'reject', 'rollback', 'canary', 'shadow'));
    end if;
end $$;
