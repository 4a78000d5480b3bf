"""The ``default_args`` every Gyre DAG shares: an owner, retries with a configured delay, and the notifier.

Cheap to import at DAG-parse time: only settings are read here; the notifier loads when a task fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gyre.config import get_settings


def _notify_failure(context: dict[str, Any]) -> None:
    from gyre.notify import on_task_failure

    on_task_failure(context)


def default_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "owner": "gyre",
        "retries": 2,
        "retry_delay": timedelta(seconds=get_settings().task_retry_delay_s),
        "on_failure_callback": _notify_failure,
    }
    return args | overrides
