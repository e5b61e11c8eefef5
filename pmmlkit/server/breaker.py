"""A circuit breaker for the server's Redis calls (results lookups, embedding lookups).

Closed: calls go through. ``failures`` calls in a row that fail on the connection (Redis
unreachable, no answer within the timeout: :class:`pmmlkit.StorageError`) open it: for
``reset`` seconds every call fails at once, saying why and until when, instead of holding a
request for the whole timeout. Then one call is let through (half open): its success closes
the breaker, its failure opens it for another ``reset`` seconds. An answer that says "not
there" (no results, no set) is a success: Redis answered.
"""

from __future__ import annotations

import threading
import time

from pmmlkit.errors import StorageError

DEFAULT_FAILURES = 5
DEFAULT_RESET = 5.0


class CircuitBreaker:
    def __init__(self, what: str, *, failures: int = DEFAULT_FAILURES,
                 reset: float = DEFAULT_RESET):
        self.what = what
        self.failures = failures
        self.reset = reset
        self._lock = threading.Lock()
        self._failed = 0
        self._opened_at: float | None = None
        self._trial = False
        self._last = ""
        #: times the breaker opened (a metric)
        self.opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if time.monotonic() >= self._opened_at + self.reset \
                else "open"

    def before(self) -> None:
        """Raise :class:`StorageError` while open; let one trial call through after
        ``reset`` seconds."""
        with self._lock:
            if self._opened_at is None:
                return
            left = self._opened_at + self.reset - time.monotonic()
            if left <= 0 and not self._trial:
                self._trial = True
                return
            raise StorageError(
                f"{self.what}: not tried: the last {self._failed} calls failed ({self._last}); "
                f"the next attempt is in {max(left, 0):.1f} s (circuit breaker open)")

    def success(self) -> None:
        with self._lock:
            self._failed, self._opened_at, self._trial = 0, None, False

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            self._failed += 1
            self._last = str(exc)
            if self._trial or (self._opened_at is None and self._failed >= self.failures):
                if self._opened_at is None:
                    self.opened += 1
                self._opened_at = time.monotonic()
            self._trial = False
