"""Webhook requests that fail the secret check: rate-limited per client, logged once per interval.

Telegram always sends the right secret, so a request without it is a scan, a guess or a
misconfigured proxy. Each gets 401 until its client address has failed :data:`LIMIT` times in
the current interval; after that it gets 429 with ``Retry-After`` (the rest of the interval).
A request with the right secret is never limited, even from a limited address: behind a load
balancer every request comes from the balancer's address, Telegram's included.

Logging: the first refusal of an interval is one warning line; the refusals after it are only
counted, and the first refusal of a later interval logs how many there were (``refused``,
``limited``, ``clients``). A flood of bad requests costs a line a minute, not a line each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("app.webhook")

INTERVAL = 60.0  # seconds
LIMIT = 30  # refusals per client address and interval before 429
MAX_CLIENTS = 10_000  # addresses counted per interval; beyond that they share one count
_OTHERS = "(other clients)"


@dataclass(frozen=True)
class Refusal:
    status: int  # 401, or 429 once the client is over the limit
    retry_after: int | None  # seconds, with 429


class RefusalLimiter:
    def __init__(
        self,
        *,
        limit: int = LIMIT,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.interval = interval
        self.clock = clock
        self._started = -math.inf
        self._per_client: dict[str, int] = {}
        self.refused = 0  # in the current interval: answered 401
        self.limited = 0  # answered 429

    def _roll(self, now: float) -> None:
        if now - self._started >= self.interval:
            self.flush()
            self._started = now

    def flush(self) -> None:
        """Log what the current interval counted without a line of its own, and start over."""
        unlogged = self.refused + self.limited - 1  # the first one had its own line
        if unlogged > 0:
            log.warning(
                "webhook requests refused in the last interval",
                refused=self.refused,
                limited=self.limited,
                clients=len(self._per_client),
                interval_s=self.interval,
            )
        self._started = -math.inf
        self._per_client.clear()
        self.refused = self.limited = 0

    def refuse(self, remote: str | None, reason: str) -> Refusal:
        """Count a request that failed the secret check; how to answer it."""
        now = self.clock()
        self._roll(now)
        client = remote or "unknown"
        if client not in self._per_client and len(self._per_client) >= MAX_CLIENTS:
            client = _OTHERS
        count = self._per_client.get(client, 0) + 1
        self._per_client[client] = count
        first = self.refused + self.limited == 0
        if count > self.limit:
            self.limited += 1
            retry_after = max(1, math.ceil(self._started + self.interval - now))
            refusal = Refusal(429, retry_after)
        else:
            self.refused += 1
            refusal = Refusal(401, None)
        if first:
            log.warning(
                "webhook request refused",
                status=refusal.status,
                reason=reason,
                remote=remote,
                note=f"further refusals in the next {self.interval:g} s are only counted",
            )
        return refusal
