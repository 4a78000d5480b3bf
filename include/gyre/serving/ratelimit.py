"""A fixed-window rate limit per API key, shared by every worker through Redis without a round trip per request.

Each worker counts the requests it admits locally and adds them to the key's window counter in Redis
(``INCRBY``, which answers the total of every worker) in a background task at most every ``sync_every_s``. A request is
admitted while the last known total plus what this worker admitted since is under the limit, so the check
costs a dictionary lookup. The price is a bounded overshoot: at most what the other workers admit during one
sync interval (at 1,000 requests/s and 50 ms, about 50 requests over a limit of thousands). While Redis does
not answer, each worker keeps enforcing the limit on what it knows and retries the sync.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Window:
    known: int = 0  # the total in Redis at the last sync (every worker's requests)
    pending: int = 0  # admitted here since, not yet added to Redis


def key_ident(key: str) -> str:
    """What names the key's counter in Redis: a digest, so the key itself never reaches Redis."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window_s: int,
        redis: Callable[[], Any],
        sync_every_s: float = 0.05,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._redis = redis
        self.sync_every_s = sync_every_s
        self._on_error = on_error
        self._windows: dict[tuple[str, int], _Window] = {}
        self._task: asyncio.Task[None] | None = None
        self._synced_at = -math.inf

    @staticmethod
    def counter(ident: str, slot: int) -> str:
        return f"gyre:serving:rate:{ident}:{slot}"

    def admit(self, key: str) -> int | None:
        """None when the request may go on; else the seconds until the window turns (for Retry-After)."""
        now = time.time()
        slot = int(now // self.window_s)
        window = self._windows.setdefault((key_ident(key), slot), _Window())
        clock = time.monotonic()
        if clock - self._synced_at >= self.sync_every_s and (self._task is None or self._task.done()):
            # A short task per interval, started by traffic: nothing runs (or is left pending) while idle.
            self._synced_at = clock
            self._task = asyncio.get_running_loop().create_task(self._sync_once())
        if window.known + window.pending >= self.limit:
            return max(1, math.ceil((slot + 1) * self.window_s - now))
        window.pending += 1
        return None

    async def _sync_once(self) -> None:
        try:
            await self.sync()
        except Exception as error:  # noqa: BLE001 - keep limiting locally; try again next interval
            if self._on_error is not None:
                self._on_error(error)

    async def sync(self) -> None:
        """Add what this worker admitted to Redis and learn every worker's total, for the windows in use."""
        current = int(time.time() // self.window_s)
        for name in [n for n in self._windows if n[1] < current - 1]:
            del self._windows[name]
        windows = list(self._windows.items())
        if not windows:
            return
        sent = [window.pending for _, window in windows]
        async with self._redis().pipeline(transaction=False) as pipe:
            for ((ident, slot), _), count in zip(windows, sent, strict=True):
                pipe.incrby(self.counter(ident, slot), count)
                pipe.expire(self.counter(ident, slot), self.window_s + 1)
            replies = await pipe.execute()
        for i, (_, window) in enumerate(windows):
            window.pending -= sent[i]
            window.known = int(replies[2 * i])
