"""/metrics prints each of Gyre's metric families once, whatever part of them BentoML's own output already holds."""

from __future__ import annotations

import re

from gyre.serving.metrics import ServingMetrics


def families(text: str) -> list[str]:
    return re.findall(r"^# TYPE (\S+)", text, re.MULTILINE)


def test_each_family_is_printed_once_and_none_is_left_out() -> None:
    metrics = ServingMetrics()
    metrics.responses.labels("score", "429").inc()
    metrics.model_info.labels("champion", "3").set(1)
    alone = metrics.exposition("")
    assert 'gyre_responses_total{endpoint="score",status="429"} 1.0' in alone
    assert metrics.exposition(alone) == alone  # BentoML's output has them all (multiprocess files): nothing added
    # BentoML's output holds another process's model info only: that family is not repeated, the rest is added.
    other = (
        '# HELP gyre_model_info x\n# TYPE gyre_model_info gauge\ngyre_model_info{role="challenger",version="1"} 1.0\n'
    )
    merged = metrics.exposition(other)
    assert families(merged).count("gyre_model_info") == 1
    assert 'gyre_responses_total{endpoint="score",status="429"} 1.0' in merged
    assert sorted(families(merged)) == sorted(families(alone))
