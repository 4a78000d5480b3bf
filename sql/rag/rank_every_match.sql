-- The hybrid query as it was before hybrid_search.sql bounded its full-text candidates: it ranks every chunk
-- that shares one word with the question (tens of thousands on a large index) with ts_rank_cd, and leaves the
-- version to an InitPlan the planner cannot see. bench/rag.py measures the new query against it.
with target as (
    select coalesce(
        cast(:version_id as integer),
        (select version_id from rag_index_versions where status = 'live')
    ) as version_id
),
question as (
    -- any of the question's words may match (plainto_tsquery would demand all of them)
    select to_tsquery('english', replace(plainto_tsquery('english', :query)::text, ' & ', ' | ')) as tsq
),
vector_hits as (
    select chunk_id, row_number() over (order by distance, chunk_id) as rank
    from (
        select c.chunk_id, c.embedding <=> cast(:embedding as vector) as distance
        from rag_chunks c
        where c.version_id = (select version_id from target)
          and (cast(:category as text[]) is null or c.category = any(cast(:category as text[])))
          and (cast(:team as text) is null or c.team = cast(:team as text))
          and (cast(:tag as text) is null or cast(:tag as text) = any(c.tags))
          and (cast(:source as text) is null or c.source = cast(:source as text))
        order by c.embedding <=> cast(:embedding as vector)
        limit :candidates
    ) nearest
),
text_hits as (
    select chunk_id, row_number() over (order by score desc, chunk_id) as rank
    from (
        select c.chunk_id, ts_rank_cd(c.tsv, q.tsq) as score
        from rag_chunks c, question q
        where c.version_id = (select version_id from target)
          and c.tsv @@ q.tsq
          and (cast(:category as text[]) is null or c.category = any(cast(:category as text[])))
          and (cast(:team as text) is null or c.team = cast(:team as text))
          and (cast(:tag as text) is null or cast(:tag as text) = any(c.tags))
          and (cast(:source as text) is null or c.source = cast(:source as text))
        order by score desc
        limit :candidates
    ) matches
),
fused as (
    select chunk_id, v.rank as vector_rank, t.rank as text_rank,
           coalesce(1.0 / (:rrf_k + v.rank), 0) + coalesce(1.0 / (:rrf_k + t.rank), 0) as score
    from vector_hits v
    full outer join text_hits t using (chunk_id)
)
select f.chunk_id, f.score, f.vector_rank, f.text_rank, c.version_id, c.source, c.ordinal, c.heading, c.content,
       c.category, c.team, d.title, d.content_hash
from fused f
join rag_chunks c using (chunk_id)
join rag_documents d on d.version_id = c.version_id and d.source = c.source
order by f.score desc, f.chunk_id
limit :k
