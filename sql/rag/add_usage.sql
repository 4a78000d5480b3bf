insert into rag_usage (day, calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
values (:day, 1, :input_tokens, :output_tokens, :cache_read_tokens, :cache_write_tokens, :cost_usd)
on conflict (day) do update set
    calls = rag_usage.calls + 1,
    input_tokens = rag_usage.input_tokens + excluded.input_tokens,
    output_tokens = rag_usage.output_tokens + excluded.output_tokens,
    cache_read_tokens = rag_usage.cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = rag_usage.cache_write_tokens + excluded.cache_write_tokens,
    cost_usd = rag_usage.cost_usd + excluded.cost_usd
