"""The broadcast worker: sends broadcasts in the background, under their lease.

At startup a watcher task looks for running broadcasts whose lease is free or expired (left by
a restart, by a replica that died, or written by another process: the admin panel, a restock
alert enqueued by ``python -m app stock import``) and sends them; it looks again every
``BROADCAST_POLL_INTERVAL`` (at most half a lease period), so a standby replica takes over from
a dead one. Shutdown cancels everything and gives leases
back. Tasks run in a fresh context: they belong to no update (no update session, no log
context). The process's broadcasts share one rate limiter, so they share Telegram's budget.

How one broadcast is sent (its order, its progress, its lease, its retries) is
:mod:`app.workers.broadcast_sender`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Coroutine
from typing import Any

import structlog
from aiogram import Bot, Dispatcher

from app.config import Settings
from app.db.uow import SessionFactory, read
from app.middlewares.db import OpenTransactionError
from app.services import broadcast as broadcasts
from app.services.broadcast import DEFAULT_RATE, LEASE_SECONDS
from app.workers.broadcast_sender import BroadcastSender, RateLimiter

log = structlog.get_logger(__name__)

MANAGER_KEY = "broadcasts"
POLL_INTERVAL = 10.0  # seconds between two looks for broadcasts to send (BROADCAST_POLL_INTERVAL)


class BroadcastManager:
    """This process's broadcasts: the watcher and one sending task per broadcast."""

    def __init__(
        self,
        bot: Bot,
        factory: SessionFactory,
        *,
        rate: float = DEFAULT_RATE,
        lease_seconds: float = LEASE_SECONDS,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.bot = bot
        self.factory = factory
        self.limiter = RateLimiter(rate)  # one per process: all broadcasts share the budget
        self.lease_seconds = lease_seconds
        self.poll_interval = min(poll_interval, lease_seconds / 2)
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
            self.bot, self.factory, self.limiter, broadcast_id, lease_seconds=self.lease_seconds
        )
        try:
            return await sender.run()
        except OpenTransactionError:  # a programming error: never swallowed
            raise
        except Exception:  # the lease expires and the watcher tries again later
            log.exception("broadcast failed", broadcast_id=broadcast_id)
            return False

    async def _watch(self) -> None:
        while True:
            try:
                async with self.factory() as session, read(session):
                    ids = await broadcasts.claimable_broadcasts(session)
                for broadcast_id in ids:
                    self.launch(broadcast_id)
            except OpenTransactionError:
                raise
            except Exception:
                log.exception("could not look for broadcasts to resume")
            await asyncio.sleep(self.poll_interval)

    async def stop(self) -> None:
        """Cancel the sends and the watcher; one that ended with the transaction guard's error
        raises it here (a bug, which the tests' strict guard must not lose in a task)."""
        tasks = [t for t in (self._watcher, *self.tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def start_broadcasts(
    dispatcher: Dispatcher, bot: Bot, session_factory: SessionFactory, settings: Settings
) -> None:
    """A startup hook (after the schema is at head): resume broadcasts left running."""
    manager = BroadcastManager(
        bot,
        session_factory,
        rate=settings.broadcast_rate,
        poll_interval=settings.broadcast_poll_interval,
    )
    dispatcher[MANAGER_KEY] = manager
    manager.start()


async def stop_broadcasts(dispatcher: Dispatcher) -> None:
    """A shutdown hook, before the engine is disposed: stop sending, give the leases back."""
    manager = dispatcher.workflow_data.pop(MANAGER_KEY, None)
    if isinstance(manager, BroadcastManager):
        await manager.stop()
