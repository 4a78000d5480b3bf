select coalesce((select cost_usd from rag_usage where day = :day), 0) as cost_usd
