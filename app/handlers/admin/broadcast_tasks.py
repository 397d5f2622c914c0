"""Background sending of broadcasts, tied to the Dispatcher's startup and shutdown.

At startup a watcher task looks for running broadcasts whose lease is free or expired (left by
a restart, or by a replica that died) and sends them; it looks again every half lease period,
so a standby replica takes over from a dead one. Shutdown cancels everything and gives leases back.
Tasks run in a fresh context: they belong to no update (no update session, no log context).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Coroutine
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.services.broadcast import (
    DEFAULT_RATE,
    LEASE_SECONDS,
    BroadcastSender,
    RateLimiter,
    claimable,
)

log = structlog.get_logger(__name__)

MANAGER_KEY = "broadcasts"


class BroadcastManager:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        rate: float = DEFAULT_RATE,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.limiter = RateLimiter(rate)  # one per process: all broadcasts share the budget
        self.lease_seconds = lease_seconds
        self.tasks: dict[int, asyncio.Task[bool]] = {}
        self._watcher: asyncio.Task[None] | None = None

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return asyncio.create_task(coro, context=contextvars.Context())

    def start(self) -> None:
        self._watcher = self._spawn(self._watch())

    def launch(self, broadcast_id: int) -> None:
        """Send this broadcast from this process, unless it already does."""
        running = self.tasks.get(broadcast_id)
        if running is None or running.done():
            self.tasks[broadcast_id] = self._spawn(self._run(broadcast_id))

    async def _run(self, broadcast_id: int) -> bool:
        sender = BroadcastSender(
            self.bot,
            self.session_factory,
            self.limiter,
            broadcast_id,
            lease_seconds=self.lease_seconds,
        )
        try:
            return await sender.run()
        except Exception:  # the lease expires and the watcher tries again later
            log.exception("broadcast failed", broadcast_id=broadcast_id)
            return False

    async def _watch(self) -> None:
        while True:
            try:
                for broadcast_id in await claimable(self.session_factory):
                    self.launch(broadcast_id)
            except Exception:
                log.exception("could not look for broadcasts to resume")
            await asyncio.sleep(self.lease_seconds / 2)

    async def wait_idle(self) -> None:
        """Wait for the broadcasts this process is sending (for tests and clean stops)."""
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def stop(self) -> None:
        tasks = [t for t in (self._watcher, *self.tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def start_broadcasts(
    dispatcher: Dispatcher,
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Startup hook (after the schema is at head): resume broadcasts left running."""
    rate = settings.broadcast_rate
    manager = BroadcastManager(bot, session_factory, rate=rate)
    dispatcher[MANAGER_KEY] = manager
    manager.start()


async def stop_broadcasts(dispatcher: Dispatcher) -> None:
    manager = dispatcher.get(MANAGER_KEY)
    if isinstance(manager, BroadcastManager):
        await manager.stop()
        del dispatcher[MANAGER_KEY]
