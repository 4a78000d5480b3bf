delete from rag_answer_scores where day = :day
