"""At most one of something per key and period: alerts a user can trigger at will.

``/paysupport`` alerts the owners; without a limit a user could page them on every call. The
limit holds across replicas when FSM state is in Redis (``REDIS_URL``): one ``SET NX EX`` per
key decides. In one process it is a dictionary of deadlines, pruned as it grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PAYSUPPORT_ALERT_PERIOD = 600.0  # seconds: one owner alert per user per 10 minutes
_PRUNE_AT = 10_000  # keys kept in memory before the expired ones are dropped


class Throttle:
    """``await throttle.allow(key)`` is True at most once per key and ``period``."""

    def __init__(self, period: float) -> None:
        self.period = period

    async def allow(self, key: str) -> bool:
        raise NotImplementedError


class MemoryThrottle(Throttle):
    def __init__(self, period: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(period)
        self.clock = clock
        self._until: dict[str, float] = {}

    async def allow(self, key: str) -> bool:
        now = self.clock()
        if self._until.get(key, -1.0) > now:
            return False
        if len(self._until) >= _PRUNE_AT:
            self._until = {k: until for k, until in self._until.items() if until > now}
        self._until[key] = now + self.period
        return True


class RedisThrottle(Throttle):
    def __init__(self, redis: Redis, period: float, *, prefix: str) -> None:
        super().__init__(period)
        self.redis = redis
        self.prefix = prefix

    async def allow(self, key: str) -> bool:
        from redis.exceptions import RedisError  # noqa: PLC0415 (only with REDIS_URL)

        try:
            taken = await self.redis.set(
                f"{self.prefix}:{key}", b"1", nx=True, ex=max(1, round(self.period))
            )
        except (RedisError, OSError) as exc:  # an alert too many beats none
            log.warning("throttle unavailable; allowing", key=key, error=repr(exc))
            return True
        return bool(taken)


def create_throttle(storage: BaseStorage, period: float, *, bot_id: str) -> Throttle:
    """Shared through Redis when the FSM storage is Redis, else this process's own."""
    if isinstance(storage, MemoryStorage):
        return MemoryThrottle(period)
    from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415 (only with REDIS_URL)

    if isinstance(storage, RedisStorage):
        return RedisThrottle(storage.redis, period, prefix=f"throttle:{bot_id}")
    return MemoryThrottle(period)
