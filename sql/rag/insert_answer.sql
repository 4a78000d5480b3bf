insert into rag_answers (question, answer, mode, model, index_version, trace_id, cited)
values (:question, :answer, :mode, :model, :index_version, :trace_id, cast(:cited as jsonb))
