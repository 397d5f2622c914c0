"""Broadcasts in the database: the row, its audience, its lease and its progress.

Nothing here commits or calls Telegram; the sender (:mod:`app.workers.broadcast`) owns the
transactions and the sends, and handlers own theirs.

Only the holder of the lease sends. The lease is a time in ``lease_until``; the holder knows
the exact value it wrote (its token) and makes every write conditional on it (compare-and-set),
renewing it with each write. A replica whose lease ran out therefore stops instead of sending
twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Broadcast, BroadcastStatus, User

DEFAULT_RATE = 25.0  # messages per second; Telegram allows about 30 to different chats
# Renewed with every write; longer than one API call may take (aiogram's default timeout is
# 60 s), so a slow send never lets another replica take over a live sender.
LEASE_SECONDS = 90.0
BATCH = 100


class Delivery(enum.Enum):
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class LeaseLostError(Exception):
    """Another process took the broadcast over, or it was cancelled or finished."""


@dataclass(frozen=True)
class Finished:
    """A broadcast as it ended, for the report to its author."""

    created_by: int
    language_code: str | None
    sent: int
    blocked: int
    failed: int


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


async def claimable_broadcasts(session: AsyncSession) -> list[int]:
    """Running broadcasts whose lease is free or expired."""
    stmt = (
        select(Broadcast.id)
        .where(
            Broadcast.status == BroadcastStatus.RUNNING.value,
            or_(Broadcast.lease_until.is_(None), Broadcast.lease_until < utcnow()),
        )
        .order_by(Broadcast.id)
    )
    return list(await session.scalars(stmt))


async def take_lease(session: AsyncSession, broadcast_id: int, seconds: float) -> datetime | None:
    """The new lease (its exact value is the holder's token), or None if someone holds it."""
    now = utcnow()
    token = now + timedelta(seconds=seconds)
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
    return token if taken is not None else None


async def text_and_cursor(session: AsyncSession, broadcast_id: int) -> tuple[str, int]:
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    return broadcast.text, broadcast.last_user_id


async def next_recipients(session: AsyncSession, cursor: int, limit: int = BATCH) -> list[int]:
    """The next users after ``cursor`` (in id order) who have not blocked the bot."""
    stmt = (
        select(User.id)
        .where(User.id > cursor, User.is_blocked.is_(False))
        .order_by(User.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


def _owned(broadcast_id: int, token: datetime) -> list[ColumnElement[bool]]:
    return [
        Broadcast.id == broadcast_id,
        Broadcast.status == BroadcastStatus.RUNNING.value,
        Broadcast.lease_until == token,
    ]


async def renew(
    session: AsyncSession,
    broadcast_id: int,
    token: datetime,
    seconds: float,
    **values: object,
) -> datetime:
    """Renew the lease held with ``token`` for ``seconds``, writing ``values`` with it; the new
    token. :class:`LeaseLostError` if the lease is no longer ``token`` (or not running)."""
    new_token = utcnow() + timedelta(seconds=seconds)
    stmt = (
        update(Broadcast)
        .where(*_owned(broadcast_id, token))
        .values(lease_until=new_token, **values)
        .returning(Broadcast.id)
    )
    if await session.scalar(stmt) is None:
        raise LeaseLostError
    return new_token


async def record(
    session: AsyncSession,
    broadcast_id: int,
    token: datetime,
    seconds: float,
    *,
    user_id: int,
    outcome: Delivery,
) -> datetime:
    """One recipient done: the cursor moves past them and their outcome is counted (a user
    who blocked the bot is marked). The renewed lease's token."""
    counter = getattr(Broadcast, outcome.value)
    new_token = await renew(
        session,
        broadcast_id,
        token,
        seconds,
        last_user_id=user_id,
        **{outcome.value: counter + 1},
    )
    if outcome is Delivery.BLOCKED:
        await session.execute(update(User).where(User.id == user_id).values(is_blocked=True))
    return new_token


async def finish(
    session: AsyncSession, broadcast_id: int, token: datetime, seconds: float
) -> Finished:
    """Mark the broadcast done and free its lease; its counters and its author."""
    done = {"status": BroadcastStatus.DONE.value, "finished_at": utcnow()}
    await renew(session, broadcast_id, token, seconds, **done)
    await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id).values(lease_until=None)
    )
    broadcast = await session.get(Broadcast, broadcast_id, populate_existing=True)
    assert broadcast is not None
    admin = await session.get(User, broadcast.created_by)
    return Finished(
        created_by=broadcast.created_by,
        language_code=admin.language_code if admin else None,
        sent=broadcast.sent,
        blocked=broadcast.blocked,
        failed=broadcast.failed,
    )


async def release(session: AsyncSession, broadcast_id: int, token: datetime) -> None:
    """Give the lease back (a stopping process), so a restart resumes at once."""
    await session.execute(
        update(Broadcast).where(*_owned(broadcast_id, token)).values(lease_until=None)
    )
