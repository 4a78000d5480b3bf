"""Publish each load's validation results as Great Expectations Data Docs under ``<home>/data_docs``.

Validation runs on an ephemeral context; only publishing needs a file context (``<home>/gx``) whose
validation store keeps the history, so the Data Docs index lists every day and file ever validated.
A file validated in several chunks is shown as one result with the counts summed over its chunks.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import logging
import re
from pathlib import Path

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from gyre.config import Settings
from gyre.validation import docs_dir, suite
from gyre.validation.contract import Feed

log = logging.getLogger(__name__)
SITE = "gyre"
_KEPT_EXAMPLES = 20
_COUNTS = ("element_count", "unexpected_count", "missing_count")


@functools.cache
def _context(home: Path) -> gx.data_context.FileDataContext:
    context = gx.get_context(mode="file", project_root_dir=str(home))
    if SITE not in (context.variables.data_docs_sites or {}):
        context.add_data_docs_site(
            SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(home / "data_docs"),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def merge(results: list[ExpectationSuiteValidationResult]) -> ExpectationSuiteValidationResult:
    """One result for a file validated in chunks: counts summed, a few failing examples kept."""
    merged = copy.deepcopy(results[0])
    for position, item in enumerate(merged.results):
        parts = [r.results[position] for r in results]
        item.success = all(p.success for p in parts)
        for key in _COUNTS:
            if key in item.result:
                item.result[key] = sum(p.result.get(key, 0) for p in parts)
        if item.result.get("element_count"):
            item.result["unexpected_percent"] = (
                100 * item.result.get("unexpected_count", 0) / item.result["element_count"]
            )
        examples = [v for p in parts for v in p.result.get("partial_unexpected_list", [])]
        item.result["partial_unexpected_list"] = examples[:_KEPT_EXAMPLES]
        for bulky in (
            "unexpected_list",
            "unexpected_index_list",
            "partial_unexpected_index_list",
            "partial_unexpected_counts",
        ):
            item.result.pop(bulky, None)
    return suite.restate(merged)


def _plain(result: ExpectationSuiteValidationResult) -> ExpectationSuiteValidationResult:
    """Numpy scalars out (the store writes JSON), through the result's own serialisation."""
    data = json.loads(json.dumps(result.to_json_dict(), default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    return ExpectationSuiteValidationResult(**data)


def _key(suite_name: str, day: dt.date, batch: str) -> ValidationResultIdentifier:
    run = RunIdentifier(run_name=day.isoformat(), run_time=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "__", batch)
    return ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite_name), run, safe)


def publish(
    feed: Feed,
    day: dt.date,
    row_results: list[tuple[str, list[ExpectationSuiteValidationResult]]],
    batch_result: ExpectationSuiteValidationResult,
    settings: Settings,
) -> Path:
    """Store the day's results (one per file, one for the batch rules) and rebuild the site; returns its index."""
    context = _context(settings.home)
    keys = []
    for source, results in row_results:
        if results:
            key = _key(f"{feed.name}_rows", day, source)
            context.validation_results_store.set(key, _plain(merge(results)))
            keys.append(key)
    key = _key(f"{feed.name}_batch", day, f"{feed.name}_{day.isoformat()}")
    context.validation_results_store.set(key, _plain(batch_result))
    keys.append(key)
    context.build_data_docs(site_names=[SITE], resource_identifiers=keys)
    index = docs_dir(settings) / "index.html"
    log.info("Data Docs: %s", index)
    return index
