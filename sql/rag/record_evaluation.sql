update rag_index_versions
set recall_at_5 = :recall_at_5, mrr = :mrr, questions = :questions, gate_reasons = cast(:gate_reasons as jsonb),
    evaluated_at = now()
where version_id = :version_id
