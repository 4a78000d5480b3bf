"""The analyst console: one page on the scoring service for the people the model serves.

It asks the knowledge base (``/ask_stream``), scores a transaction (``/score``) and shows the loop at a glance.
The page and its script are static files with no secret in them; the serving API key is typed once and kept
in the tab's ``sessionStorage``, and every call, the console's own read-only routes included, carries it.
"""
