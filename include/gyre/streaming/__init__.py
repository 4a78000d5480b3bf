"""The streaming feature path: transactions on a stream, per-event customer and merchant aggregates kept in
Redis and pushed online through Feast, and the same aggregation run in batch over the ingested history for
the offline store, so training sees what serving sees.

Modules: ``stream`` (the interface and Redis Streams), ``events`` (validation), ``aggregate`` (the one
aggregation implementation), ``state`` (exactly-once state in Redis), ``sink`` (Feast push), ``consumer``,
``backfill`` (offline rows, cold-start state), ``replay`` (publish a day), ``metrics``, ``cli``.
"""
