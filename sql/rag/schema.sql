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

-- A sync writes new and changed documents here first, in bounded batches that each commit, and then moves
-- them into rag_documents/rag_chunks in the one transaction that also deletes what left the folder: readers see
-- the index before the sync or after it, never half of it, and a sync that stopped resumes from what is staged.
-- A staged document row is written with its last chunk, so chunks without one are an unfinished document.
create table if not exists rag_staged_documents (
    version_id   integer     not null references rag_index_versions on delete cascade,
    source       text        not null,
    content_hash text        not null,
    title        text        not null,
    doc_type     text        not null,
    category     text,
    team         text,
    tags         text[]      not null default '{}',
    chunks       integer     not null,
    staged_at    timestamptz not null default now(),
    primary key (version_id, source)
);

create table if not exists rag_staged_chunks (
    version_id integer not null references rag_index_versions on delete cascade,
    source     text    not null,
    ordinal    integer not null,
    heading    text    not null,
    content    text    not null,
    category   text,
    team       text,
    tags       text[]  not null default '{}',
    embedding  vector(384) not null,
    primary key (version_id, source, ordinal)
);

-- Files of the folder that the last sync did not index, and why: too large, empty, binary, not UTF-8,
-- unreadable, or a duplicate (the same bytes as ``duplicate_of``, which is indexed).
create table if not exists rag_skipped_documents (
    version_id   integer     not null references rag_index_versions on delete cascade,
    source       text        not null,
    reason       text        not null
        check (reason in ('too_large', 'empty', 'binary', 'invalid_utf8', 'unreadable', 'duplicate')),
    detail       text        not null,
    content_hash text,
    duplicate_of text,
    recorded_at  timestamptz not null default now(),
    primary key (version_id, source)
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

-- Every answer given, with the passages it cites ([{"n", "source", "chunk_id", "content"}], copied: an index
-- version may be purged before the answer is judged). The nightly judge samples a day of them.
create table if not exists rag_answers (
    answer_id     bigserial   primary key,
    asked_at      timestamptz not null default now(),
    question      text        not null,
    answer        text        not null,
    mode          text        not null check (mode in ('generated', 'extractive')),
    model         text,
    index_version integer,
    trace_id      text,
    cited         jsonb       not null
);
create index if not exists rag_answers_asked_at on rag_answers (asked_at);

-- The judge's scores of a day's sample, one row per answer, and the day's means; a re-run replaces the day.
-- ``method`` says how: 'llm_judge' (a model read answer and passages) or 'embedding_overlap' (an offline proxy).
create table if not exists rag_answer_scores (
    day          date             not null,
    answer_id    bigint           not null references rag_answers on delete cascade,
    method       text             not null check (method in ('llm_judge', 'embedding_overlap')),
    faithfulness double precision,  -- null when the answer cites nothing
    relevance    double precision not null,
    primary key (day, answer_id)
);

create table if not exists rag_answer_quality (
    day          date             primary key,
    method       text             not null check (method in ('llm_judge', 'embedding_overlap')),
    judge_model  text,
    answers      integer          not null,  -- answers given that day
    scored       integer          not null,  -- of them, in the sample
    faithfulness double precision,
    relevance    double precision,
    below        text[]           not null default '{}',  -- the measures under their floor
    scored_at    timestamptz      not null default now()
);
