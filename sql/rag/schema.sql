-- Document index: versions (one per embedding model + chunk settings), documents and their chunks, usage.
-- A version is built beside the live one and swapped in one transaction; at most one version is live.
create table if not exists rag_index_versions (
    version_id      serial primary key,
    config_hash     text        not null unique,
    embedding_model text        not null,
    chunk_words     integer     not null,
    chunk_overlap   integer     not null,
    status          text        not null check (status in ('building', 'live', 'retired', 'rejected')),
    recall_at_5     double precision,
    mrr             double precision,
    questions       integer,
    gate_reasons    jsonb,
    created_at      timestamptz not null default now(),
    evaluated_at    timestamptz,
    swapped_at      timestamptz
);
create unique index if not exists rag_index_versions_one_live on rag_index_versions ((true)) where status = 'live';

create table if not exists rag_documents (
    version_id   integer     not null references rag_index_versions on delete cascade,
    source       text        not null,  -- path relative to the indexed folder
    content_hash text        not null,  -- sha256 of the file's bytes
    title        text        not null,
    doc_type     text        not null,
    category     text,
    team         text,
    tags         text[]      not null default '{}',
    chunks       integer     not null,
    indexed_at   timestamptz not null default now(),
    primary key (version_id, source)
);

-- Filterable metadata is repeated on each chunk so that the vector search is a single-table HNSW scan.
create table if not exists rag_chunks (
    chunk_id   bigserial primary key,
    version_id integer not null,
    source     text    not null,
    ordinal    integer not null,
    heading    text    not null,
    content    text    not null,
    category   text,
    team       text,
    tags       text[]  not null default '{}',
    embedding  vector(384) not null,
    tsv        tsvector generated always as (
        setweight(to_tsvector('english', heading), 'A') || setweight(to_tsvector('english', content), 'B')
    ) stored,
    unique (version_id, source, ordinal),
    foreign key (version_id, source) references rag_documents on delete cascade
);

-- pgvector before 0.8.2 overflows a buffer in parallel HNSW builds (CVE-2026-3172): build serially.
set local max_parallel_maintenance_workers = 0;
create index if not exists rag_chunks_embedding_hnsw on rag_chunks
    using hnsw (embedding vector_cosine_ops) with (m = 16, ef_construction = 64);
create index if not exists rag_chunks_tsv on rag_chunks using gin (tsv);
create index if not exists rag_chunks_version on rag_chunks (version_id, source);

create table if not exists rag_usage (
    day                   date    primary key,
    calls                 integer not null,
    input_tokens          bigint  not null,
    output_tokens         bigint  not null,
    cache_read_tokens     bigint  not null,
    cache_write_tokens    bigint  not null,
    cost_usd              numeric(12, 6) not null
);
