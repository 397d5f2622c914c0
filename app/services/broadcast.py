"""Broadcasts: one message to every user who has not blocked the bot, resumable and leased.

Users are sent to in id order. After each user the cursor (``last_user_id``) and the counters
are committed, so a restarted process resumes after the last user it finished; a crash between
a send and its commit can repeat that one message (at-least-once, never skipped).

Only the holder of the lease sends. The lease is a time in ``lease_until``; the holder knows
the exact value it wrote and makes every write conditional on it (compare-and-set), renewing it
with each write. A replica whose lease ran out therefore stops instead of sending twice.

The lease never runs out under a live sender: it is renewed before every retry (after a 429,
a network error or a 5xx), to cover the wait and the next attempt; every attempt is bounded by
a request timeout well under the lease; and one recipient's attempts and waits together stay
under the lease: a recipient whose next retry would take longer is counted as failed.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.models import Broadcast, BroadcastStatus, User
from app.i18n import translator

log = structlog.get_logger(__name__)

DEFAULT_RATE = 25.0  # messages per second; Telegram allows about 30 to different chats
# Renewed with every write; longer than one API call may take (aiogram's default timeout is
# 60 s), so a slow send never lets another replica take over a live sender.
LEASE_SECONDS = 90.0
BATCH = 100
MAX_RETRY_AFTER = 5  # 429s for one user before giving up on them
MAX_TRANSIENT = 3  # network/5xx errors for one user before giving up on them
SEND_TIMEOUT = 20  # seconds for one sendMessage; at most a third of the lease (whole seconds)


def transient_backoff(failures: int, lease_seconds: float) -> float:
    """The wait before retrying after the ``failures``-th network error or 5xx: 1, 2, 4… s,
    at most 10 s and a tenth of the lease (so that retries fit in one recipient's budget)."""
    return min(2.0 ** (failures - 1), 10.0, lease_seconds / 10)


class RateLimiter:
    """Spaces calls at least ``1 / rate`` seconds apart (slots are reserved without awaiting).

    ``clock`` and ``sleep`` default to the event loop's; tests pass a fake pair.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class Delivery(enum.Enum):
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class LeaseLostError(Exception):
    """Another process took the broadcast over, or it was cancelled or finished."""


async def create_broadcast(session: AsyncSession, text: str, created_by: int) -> Broadcast:
    broadcast = Broadcast(text=text, created_by=created_by, status=BroadcastStatus.RUNNING)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def audience_size(session: AsyncSession) -> int:
    stmt = select(func.count(User.id)).where(User.is_blocked.is_(False))
    return int(await session.scalar(stmt) or 0)


async def cancel_running(session: AsyncSession) -> list[int]:
    """Cancel every running broadcast; a sender stops at its next write."""
    stmt = (
        update(Broadcast)
        .where(Broadcast.status == BroadcastStatus.RUNNING.value)
        .values(status=BroadcastStatus.CANCELLED.value, finished_at=utcnow(), lease_until=None)
        .returning(Broadcast.id)
    )
    return list((await session.execute(stmt)).scalars())


async def claimable(session_factory: async_sessionmaker[AsyncSession]) -> list[int]:
    """Running broadcasts whose lease is free or expired."""
    async with session_factory() as session:
        stmt = (
            select(Broadcast.id)
            .where(
                Broadcast.status == BroadcastStatus.RUNNING.value,
                or_(Broadcast.lease_until.is_(None), Broadcast.lease_until < utcnow()),
            )
            .order_by(Broadcast.id)
        )
        return list(await session.scalars(stmt))


async def take_lease(
    session_factory: async_sessionmaker[AsyncSession], broadcast_id: int, seconds: float
) -> datetime | None:
    """The new lease (its exact value is the holder's token), or None if someone holds it."""
    now = utcnow()
    token = now + timedelta(seconds=seconds)
    async with session_factory() as session:
        taken = await session.scalar(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.status == BroadcastStatus.RUNNING.value,
                or_(Broadcast.lease_until.is_(None), Broadcast.lease_until < now),
            )
            .values(lease_until=token)
            .returning(Broadcast.id)
        )
        await session.commit()
    return token if taken is not None else None


class BroadcastSender:
    """Sends one broadcast while holding its lease."""

    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        limiter: RateLimiter,
        broadcast_id: int,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.limiter = limiter
        self.broadcast_id = broadcast_id
        self.lease_seconds = lease_seconds
        self.send_timeout = max(1, min(SEND_TIMEOUT, int(lease_seconds / 3)))
        self.token: datetime | None = None

    def _owned(self) -> list[ColumnElement[bool]]:
        return [
            Broadcast.id == self.broadcast_id,
            Broadcast.status == BroadcastStatus.RUNNING.value,
            Broadcast.lease_until == self.token,
        ]

    async def run(self) -> bool:
        """Send to everyone left; True when this process finished the broadcast."""
        self.token = await take_lease(self.session_factory, self.broadcast_id, self.lease_seconds)
        if self.token is None:
            return False
        log.info("broadcast sending", broadcast_id=self.broadcast_id)
        try:
            await self._send_all()
            await self._finish()
        except LeaseLostError:
            log.info("broadcast stopped: lease lost or cancelled", broadcast_id=self.broadcast_id)
            return False
        except asyncio.CancelledError:
            await self._release()
            raise
        return True

    async def _send_all(self) -> None:
        async with self.session_factory() as session:
            broadcast = await session.get(Broadcast, self.broadcast_id)
            assert broadcast is not None
            text, cursor = broadcast.text, broadcast.last_user_id
        while True:
            async with self.session_factory() as session:
                stmt = (
                    select(User.id)
                    .where(User.id > cursor, User.is_blocked.is_(False))
                    .order_by(User.id)
                    .limit(BATCH)
                )
                user_ids = list(await session.scalars(stmt))
            if not user_ids:
                return
            for user_id in user_ids:
                outcome = await self._deliver(user_id, text)
                await self._progress(user_id, outcome)
                cursor = user_id

    async def _deliver(self, user_id: int, text: str) -> Delivery:
        loop = asyncio.get_running_loop()
        started = loop.time()
        retry_afters = transient = 0
        while True:
            await self.limiter.wait()
            try:
                await self.bot.send_message(user_id, text, request_timeout=self.send_timeout)
            except TelegramRetryAfter as exc:
                retry_afters += 1
                if retry_afters > MAX_RETRY_AFTER:
                    return Delivery.FAILED
                log.warning("broadcast flood wait", retry_after=exc.retry_after)
                delay = float(exc.retry_after)
            except TelegramForbiddenError:
                return Delivery.BLOCKED
            except (TelegramNetworkError, TelegramServerError) as exc:
                transient += 1
                if transient > MAX_TRANSIENT:
                    log.warning("broadcast send failed", user_id=user_id, error=exc.message)
                    return Delivery.FAILED
                delay = transient_backoff(transient, self.lease_seconds)
            except TelegramAPIError as exc:
                log.info("broadcast send failed", user_id=user_id, error=exc.message)
                return Delivery.FAILED
            else:
                return Delivery.SENT
            # Another attempt: it must fit in this recipient's share of the lease…
            if loop.time() - started + delay + self.send_timeout > self.lease_seconds:
                log.warning(
                    "broadcast send failed: retrying would outlast the lease",
                    user_id=user_id,
                    retry_in=delay,
                )
                return Delivery.FAILED
            # …and the lease must cover the wait and the attempt (or another replica takes
            # the broadcast over and this user gets the message twice).
            await self._renew(extra=delay)
            await asyncio.sleep(delay)

    async def _write(self, session: AsyncSession, extra: float = 0.0, **values: object) -> None:
        new_token = utcnow() + timedelta(seconds=self.lease_seconds + extra)
        stmt = (
            update(Broadcast)
            .where(*self._owned())
            .values(lease_until=new_token, **values)
            .returning(Broadcast.id)
        )
        if await session.scalar(stmt) is None:
            await session.rollback()
            raise LeaseLostError
        self.token = new_token

    async def _renew(self, extra: float) -> None:
        async with self.session_factory() as session:
            await self._write(session, extra=extra)
            await session.commit()

    async def _progress(self, user_id: int, outcome: Delivery) -> None:
        counter = getattr(Broadcast, outcome.value)
        async with self.session_factory() as session:
            await self._write(session, last_user_id=user_id, **{outcome.value: counter + 1})
            if outcome is Delivery.BLOCKED:
                block = update(User).where(User.id == user_id).values(is_blocked=True)
                await session.execute(block)
            await session.commit()

    async def _finish(self) -> None:
        async with self.session_factory() as session:
            await self._write(session, status=BroadcastStatus.DONE.value, finished_at=utcnow())
            await session.execute(
                update(Broadcast).where(Broadcast.id == self.broadcast_id).values(lease_until=None)
            )
            broadcast = await session.get(Broadcast, self.broadcast_id, populate_existing=True)
            assert broadcast is not None
            admin = await session.get(User, broadcast.created_by)
            await session.commit()
        counts = {"sent": broadcast.sent, "blocked": broadcast.blocked, "failed": broadcast.failed}
        log.info("broadcast done", broadcast_id=self.broadcast_id, **counts)
        t = translator(admin.language_code if admin else None)
        report = t("owner.broadcast.done", id=self.broadcast_id, **counts)
        try:
            await self.bot.send_message(broadcast.created_by, report)
        except TelegramAPIError as exc:
            log.warning("could not report the broadcast", error=exc.message)

    async def _release(self) -> None:
        """Give the lease back at shutdown, so a restart resumes at once."""
        try:
            async with asyncio.timeout(5), self.session_factory() as session:
                await session.execute(
                    update(Broadcast).where(*self._owned()).values(lease_until=None)
                )
                await session.commit()
            log.info("broadcast paused; lease released", broadcast_id=self.broadcast_id)
        except Exception as exc:  # the lease simply expires instead
            log.warning("could not release the broadcast lease", error=repr(exc))
