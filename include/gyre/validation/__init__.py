"""The data contract as code: Great Expectations suites, per-row reasons, batch rules, Data Docs."""
