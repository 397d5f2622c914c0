"""Event isolation: one update at a time per user and chat, in the order they arrived.

aiogram handles the updates of a batch as concurrent tasks. Without isolation two updates of one
user run together, and the second reads the dialog state the first is about to change (a long
paste that Telegram splits into two messages lost its second half). aiogram's FSM middleware
holds the isolation's lock for the key ``(bot, chat, user)`` around each update, except a
pre-checkout query, which must be answered within seconds whatever else the user is doing
(:mod:`app.middlewares.fsm`).

- :class:`ProcessIsolation`: an :class:`asyncio.Lock` per key, so waiters go first come, first
  served. Unlike aiogram's ``SimpleEventIsolation``, whose locks stay for every user ever seen,
  a key's lock is dropped once nobody holds or waits for it: memory follows the users being
  served right now, not the number of users.
- :class:`ReplicaIsolation` (``REDIS_URL``): that order inside the process, then aiogram's
  ``RedisEventIsolation`` across replicas. The Redis lock alone is not taken in arrival order
  (waiters poll it), so a dialog's answers from one batch could be taken out of order; taking
  the process's lock first keeps them in order, and the Redis lock keeps two replicas from
  running one user's updates together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class ProcessIsolation(BaseEventIsolation):
    def __init__(self) -> None:
        self._slots: dict[StorageKey, _Slot] = {}

    @property
    def keys_in_use(self) -> int:
        """Keys with a lock right now (held or awaited). Not ``__len__``: aiogram tests the
        isolation's truth value, and an empty one must not read as none at all."""
        return len(self._slots)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        slot = self._slots.setdefault(key, _Slot())
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0 and self._slots.get(key) is slot:  # not dropped by close()
                del self._slots[key]

    async def close(self) -> None:
        """Forget every lock (at shutdown; an update still holding one may finish after)."""
        self._slots.clear()


class ReplicaIsolation(BaseEventIsolation):
    def __init__(self, shared: BaseEventIsolation) -> None:
        self.local = ProcessIsolation()
        self.shared = shared

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        async with self.local.lock(key), self.shared.lock(key):
            yield

    async def close(self) -> None:
        await self.local.close()
        await self.shared.close()
