insert into rag_answer_quality (day, method, judge_model, answers, scored, faithfulness, relevance, below, scored_at)
values (:day, :method, :judge_model, :answers, :scored, :faithfulness, :relevance, :below, now())
on conflict (day) do update set
    method = excluded.method,
    judge_model = excluded.judge_model,
    answers = excluded.answers,
    scored = excluded.scored,
    faithfulness = excluded.faithfulness,
    relevance = excluded.relevance,
    below = excluded.below,
    scored_at = excluded.scored_at
