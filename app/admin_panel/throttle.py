"""Failed sign-ins per client address: after ``limit`` within ``window`` seconds, it waits.

The counts live in the panel's process (one panel process serves a shop). Memory is bounded:
at most ``max_addresses`` addresses are tracked, the stalest forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

SIGN_IN_LIMIT = 5
SIGN_IN_WINDOW = 600.0  # 10 minutes


class SignInThrottle:
    def __init__(
        self,
        *,
        limit: int = SIGN_IN_LIMIT,
        window: float = SIGN_IN_WINDOW,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> float | None:
        """Seconds this address must wait before it may try again, or None."""
        now = self._clock()
        failures = self._recent(address, now)
        if len(failures) < self.limit:
            return None
        return max(failures[-self.limit] + self.window - now, 1.0)

    def failed(self, address: str) -> None:
        now = self._clock()
        failures = self._recent(address, now)
        failures.append(now)
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
