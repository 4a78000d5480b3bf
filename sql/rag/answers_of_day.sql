-- A day's answers in a fixed pseudo-random order (the same sample on a re-run), with how many there were.
select answer_id, question, answer, trace_id, cited, count(*) over () as answers
from rag_answers
where asked_at >= :start and asked_at < :end
order by md5(answer_id::text)
limit :limit
