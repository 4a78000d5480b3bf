-- The full-text terms of a question, for hybrid_search.sql: all its words (stemmed, without stop words) as one
-- OR query, which ranks the candidates, and its five rarest words, alone and in pairs, which find them. How
-- rare a word is comes from the last ANALYZE of rag_chunks: pg_stats keeps the share of chunks holding each of
-- the most common words, and a word it does not list is rarer than any it lists (half the least share, as the
-- planner assumes). The terms are returned rather than used in place so that hybrid_search.sql gets them as
-- values: planned with them, the match counts are estimated from the same statistics.
with stats as materialized (
    select most_common_elems::text::text[] as lexemes, most_common_elem_freqs as shares
    from pg_stats
    where schemaname = current_schema() and tablename = 'rag_chunks' and attname = 'tsv'
),
words as (
    select w.lexeme,
           coalesce(s.shares[array_position(s.lexemes, w.lexeme)], s.shares[cardinality(s.lexemes) + 1] / 2, 0) as share
    from unnest(tsvector_to_array(to_tsvector('english', :query))) as w (lexeme)
    left join stats s on true
    where strpos(w.lexeme, '\') = 0  -- quote_literal would write it as E'...', which tsquery does not read
),
rarest as (
    select lexeme from words order by share, lexeme limit 5
)
select
    (select string_agg(quote_literal(lexeme), ' | ') from words) as any_word,
    (select coalesce(array_agg(format('%L & %L', a.lexeme, b.lexeme)), '{}')
     from rarest a join rarest b on a.lexeme < b.lexeme) as two_words,
    (select coalesce(array_agg(quote_literal(lexeme)), '{}') from rarest) as one_word
