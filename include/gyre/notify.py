"""One notifier for every event of the loop: always a log line, and a JSON POST when a webhook is set.

A failing webhook never fails the task that notifies: the log line is the record, the webhook a courtesy.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import httpx

from gyre.config import Settings, get_settings

log = logging.getLogger("gyre.notify")


class Event(StrEnum):
    DRIFT = "drift"
    RETRAIN = "retrain"
    NO_ACTION = "no_action"
    GATE_REJECTED = "gate_rejected"
    PROMOTED = "promoted"
    ROLLBACK = "rollback"
    CANARY = "canary"
    SHADOW = "shadow"
    TASK_FAILED = "task_failed"
    ANSWER_QUALITY = "answer_quality"


def notify(event: Event, message: str, details: dict[str, Any] | None = None, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    log.warning("[%s] %s", event.value, message)
    if settings.notify_webhook_url is None:
        return
    payload = {"source": "gyre", "event": event.value, "message": message, "details": details or {}}
    try:
        httpx.post(settings.notify_webhook_url.get_secret_value(), json=payload, timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        log.error("webhook for %s failed: %s", event.value, type(error).__name__)


def on_task_failure(context: dict[str, Any]) -> None:
    """Airflow ``on_failure_callback``: names the task, the try and the error."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    error = context.get("exception")
    notify(
        Event.TASK_FAILED,
        f"{dag_id}.{task_id} failed on try {getattr(ti, 'try_number', '?')}: {type(error).__name__}: {error}",
        {"dag_id": dag_id, "task_id": task_id, "run_id": getattr(ti, "run_id", None)},
    )
