"""Leases on singleton jobs (reconciliation): one holder at a time, across replicas.

A holder takes the lease when it is free, expired, or already its own, and renews it while it
works; a process that dies simply stops renewing, and the next one takes over when the lease
runs out. The row also keeps the job's checkpoint, written with the lease held. Nothing here
commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import WorkerLease
from app.db.uow import dialect_name

_CREATE = {
    "postgresql": postgresql.insert(WorkerLease).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(WorkerLease).on_conflict_do_nothing(),
}


async def take(
    session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> int | None:
    """Take or renew the lease; its checkpoint, or None while another holder has it."""
    await session.execute(_CREATE[dialect_name(session)], {"name": name, "checkpoint": 0})
    checkpoint = await session.scalar(
        update(WorkerLease)
        .where(
            WorkerLease.name == name,
            or_(
                WorkerLease.holder.is_(None),
                WorkerLease.holder == holder,
                WorkerLease.lease_until < now,
            ),
        )
        .values(holder=holder, lease_until=now + ttl, updated_at=now)
        .returning(WorkerLease.checkpoint)
        .execution_options(synchronize_session=False)
    )
    return int(checkpoint) if checkpoint is not None else None


async def advance(
    session: AsyncSession,
    name: str,
    holder: str,
    *,
    checkpoint: int,
    now: datetime,
    ttl: timedelta,
) -> bool:
    """Store the checkpoint and renew the lease; False if the lease was lost meanwhile."""
    kept = await session.scalar(
        update(WorkerLease)
        .where(WorkerLease.name == name, WorkerLease.holder == holder)
        .values(checkpoint=checkpoint, lease_until=now + ttl, updated_at=now)
        .returning(WorkerLease.name)
        .execution_options(synchronize_session=False)
    )
    return kept is not None


async def release(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == name, WorkerLease.holder == holder)
        .values(holder=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def checkpoint(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(WorkerLease.checkpoint).where(WorkerLease.name == name))
    return int(value or 0)
