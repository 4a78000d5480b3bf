insert into rag_answer_scores (day, answer_id, method, faithfulness, relevance)
values (:day, :answer_id, :method, :faithfulness, :relevance)
