"""Broadcasts in the database: the row, its audience, its lease and its progress.

Nothing here commits or calls Telegram; the sender (:mod:`app.workers.broadcast_sender`) owns
the transactions and the sends, and handlers own theirs.

Only the holder of the lease sends. The lease is a time in ``lease_until``; the holder knows
the exact value it wrote (its token) and makes every write conditional on it (compare-and-set),
renewing it with each write. A replica whose lease ran out therefore stops instead of sending
twice.

A ``restock`` broadcast (:mod:`app.services.restock`) goes to one product's watchers instead
of every user; a product's restock alerts are claimed one at a time, oldest first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Broadcast, BroadcastKind, BroadcastStatus, User
from app.services import restock
from app.services.restock import restock_turn

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
class Plan:
    """What a broadcast sends and to whom, as its sender reads it when it takes it."""

    text: str  # the owner's text; for a restock alert, the product's title
    cursor: int  # the last user done
    product_id: int | None = None  # a restock alert: the product back in stock
    audience_until: int = 0  # a restock alert: its last watch

    @property
    def restock(self) -> bool:
        return self.product_id is not None


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


def _reachable() -> list[ColumnElement[bool]]:
    """A broadcast's audience: users who have not blocked the bot and are not banned (a banned
    user hears nothing from the shop, as restock alerts already skip them)."""
    return [User.is_blocked.is_(False), User.banned_at.is_(None)]


async def audience_size(session: AsyncSession) -> int:
    stmt = select(func.count(User.id)).where(*_reachable())
    return int(await session.scalar(stmt) or 0)


async def cancel_running(session: AsyncSession) -> list[int]:
    """Cancel every running broadcast (restock alerts go on); a sender stops at its next write."""
    stmt = (
        update(Broadcast)
        .where(
            Broadcast.status == BroadcastStatus.RUNNING.value,
            Broadcast.kind == BroadcastKind.ALL.value,
        )
        .values(status=BroadcastStatus.CANCELLED.value, finished_at=utcnow(), lease_until=None)
        .returning(Broadcast.id)
    )
    return list((await session.execute(stmt)).scalars())


async def claimable_broadcasts(session: AsyncSession) -> list[int]:
    """Running broadcasts whose lease is free or expired (and whose turn it is)."""
    stmt = (
        select(Broadcast.id)
        .where(
            Broadcast.status == BroadcastStatus.RUNNING.value,
            or_(Broadcast.lease_until.is_(None), Broadcast.lease_until < utcnow()),
            restock_turn(),
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
            restock_turn(),
        )
        .values(lease_until=token)
        .returning(Broadcast.id)
    )
    return token if taken is not None else None


async def plan(session: AsyncSession, broadcast_id: int) -> Plan:
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    if broadcast.kind == BroadcastKind.RESTOCK.value:
        assert broadcast.product_id is not None and broadcast.audience_until is not None
        return Plan(
            broadcast.text, broadcast.last_user_id, broadcast.product_id, broadcast.audience_until
        )
    return Plan(broadcast.text, broadcast.last_user_id)


@dataclass(frozen=True)
class Recipient:
    user_id: int
    language_code: str | None


async def next_recipients(
    session: AsyncSession, plan: Plan, cursor: int, limit: int = BATCH
) -> list[Recipient]:
    """The next users after ``cursor`` (in id order) who have not blocked the bot and are not
    banned: every such user, or for a restock alert the product's watchers in its audience."""
    if plan.product_id is not None:
        rows = await restock.audience_batch(
            session, plan.product_id, plan.audience_until, cursor, limit
        )
        return [Recipient(*row) for row in rows]
    stmt = (
        select(User.id, User.language_code)
        .where(User.id > cursor, *_reachable())
        .order_by(User.id)
        .limit(limit)
    )
    return [Recipient(*row) for row in await session.execute(stmt)]


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
