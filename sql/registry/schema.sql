-- Registry audit: one row per alias move (and per gate rejection, which moves nothing but says why).
create table if not exists model_alias_audit (
    id            bigserial primary key,
    moved_at      timestamptz not null default now(),
    model_name    text        not null,
    action        text        not null check (action in ('challenger', 'promote', 'reject', 'rollback')),
    alias         text,
    from_version  text,
    to_version    text,
    metrics       jsonb       not null default '{}'::jsonb,
    reason        text        not null
);
create index if not exists model_alias_audit_model on model_alias_audit (model_name, moved_at);
