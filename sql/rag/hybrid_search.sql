-- Hybrid retrieval: nearest chunks by cosine distance (HNSW) and best full-text matches, fused by weighted
-- reciprocal rank (score = vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k + text rank)).
-- Filters are bound parameters; null means "any". The version is a plain value (resolved by the caller), so
-- that the planner, with a custom plan and fresh statistics, knows whether it filters 1 % or all of the table.
--
-- Full text does not rank every chunk sharing a word with the question (one common word matches half of a
-- large index, and GIN reads a word's whole list of chunks to answer an OR): it ranks at most :text_scan
-- candidates found from the question's rarest words (question_terms.sql): first the chunks holding two of them,
-- each pair an AND that GIN answers by skipping through the commoner word's list, then, only when those are
-- fewer than :candidates, chunks holding one. ts_rank then orders them by all of the question's words.
with vector_hits as (
    select chunk_id, row_number() over (order by distance, chunk_id) as rank
    from (
        select c.chunk_id, c.embedding <=> cast(:embedding as vector) as distance
        from rag_chunks c
        where c.version_id = cast(:version_id as integer)
         and (cast(:category as text[]) is null or c.category = any(cast(:category as text[])))
         and (cast(:team as text) is null or c.team = cast(:team as text))
         and (cast(:tag as text) is null or cast(:tag as text) = any(c.tags))
         and (cast(:source as text) is null or c.source = cast(:source as text))
        order by c.embedding <=> cast(:embedding as vector)
        limit :candidates
    ) nearest
),
two_word_matches as materialized (
    select c.chunk_id, c.tsv
    from rag_chunks c
    where c.version_id = cast(:version_id as integer)
      and c.tsv @@ any(cast(:two_words as tsquery[]))
      and (cast(:category as text[]) is null or c.category = any(cast(:category as text[])))
      and (cast(:team as text) is null or c.team = cast(:team as text))
      and (cast(:tag as text) is null or cast(:tag as text) = any(c.tags))
      and (cast(:source as text) is null or c.source = cast(:source as text))
    limit :text_scan
),
text_matches as (
    select chunk_id, tsv from two_word_matches
    union all
    select c.chunk_id, c.tsv
    from rag_chunks c
    where (select count(*) from two_word_matches) < :candidates
      and c.version_id = cast(:version_id as integer)
      and c.tsv @@ any(cast(:one_word as tsquery[]))
      and not c.tsv @@ any(cast(:two_words as tsquery[]))
      and (cast(:category as text[]) is null or c.category = any(cast(:category as text[])))
      and (cast(:team as text) is null or c.team = cast(:team as text))
      and (cast(:tag as text) is null or cast(:tag as text) = any(c.tags))
      and (cast(:source as text) is null or c.source = cast(:source as text))
    limit :text_scan
),
text_hits as (
    select chunk_id, row_number() over (order by score desc, chunk_id) as rank
    from (
        select m.chunk_id, ts_rank(m.tsv, cast(:any_word as tsquery)) as score
        from text_matches m
        order by score desc, m.chunk_id
        limit :candidates
    ) ranked
),
fused as (
    select chunk_id, v.rank as vector_rank, t.rank as text_rank,
           coalesce(:vector_weight / (:rrf_k + v.rank), 0) + coalesce(:text_weight / (:rrf_k + t.rank), 0) as score
    from vector_hits v
    full outer join text_hits t using (chunk_id)
)
select f.chunk_id, f.score, f.vector_rank, f.text_rank, c.version_id, c.source, c.ordinal, c.heading, c.content,
       c.category, c.team, d.title, d.content_hash
from fused f
join rag_chunks c using (chunk_id)
join rag_documents d on d.version_id = c.version_id and d.source = c.source
where f.score > 0
order by f.score desc, f.chunk_id
limit :k
