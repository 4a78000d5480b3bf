-- The last week of judged answers (judge_answers DAG): how faithful and relevant, by what method, what fell short.
select day, method, judge_model, answers, scored, faithfulness, relevance, below
from rag_answer_quality
order by day desc
limit 7
