"""Failed token attempts per client address: after a few, the address waits (429 with Retry-After), the
wait doubling with each further failure. The table is bounded: entries idle for an hour are forgotten
and beyond `max_clients` addresses the least recently seen is dropped."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    blocked_until: float
    seen: float


class TokenThrottle:
    """`free` failures cost nothing; failure n > free blocks the address for 2**(n-free-1) s (at most
    `max_wait`). A success forgets the address. Safe under concurrent callers."""

    def __init__(self, free: int = 5, max_wait: float = 300.0, forget_after: float = 3600.0,
                 max_clients: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.max_wait, self.forget_after, self.max_clients = free, max_wait, forget_after, max_clients
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def _current(self, client: str, now: float) -> _Record | None:
        record = self._records.get(client)
        if record is not None and now - record.seen > self.forget_after:
            del self._records[client]
            return None
        return record

    def wait(self, client: str) -> int:
        """Whole seconds `client` must still wait before its token is checked again (0: none)."""
        now = self.clock()
        with self._lock:
            record = self._current(client, now)
            return 0 if record is None else max(0, math.ceil(record.blocked_until - now))

    def failed(self, client: str) -> tuple[int, int]:
        """Count a wrong token from `client`: (failures so far, seconds it must now wait, 0 for none)."""
        now = self.clock()
        with self._lock:
            record = self._current(client, now) or _Record(0, 0.0, now)
            record.failures += 1
            record.seen = now
            over = record.failures - self.free
            wait = min(self.max_wait, 2.0 ** (over - 1)) if over > 0 else 0.0
            record.blocked_until = now + wait
            self._records[client] = record
            self._records.move_to_end(client)
            while len(self._records) > self.max_clients:
                self._records.popitem(last=False)
            return record.failures, math.ceil(wait)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)
