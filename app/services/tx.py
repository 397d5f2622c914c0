"""Transactions that write: how a buyer-side write begins on every backend."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


async def begin_write(session: AsyncSession) -> None:
    """End any open read, then begin a transaction that is going to write.

    On SQLite the transaction begins with ``BEGIN IMMEDIATE``: the write lock is taken at BEGIN,
    so writers queue up (``busy_timeout``) instead of failing with "database is locked" when a
    read snapshot tries to upgrade. Claims are therefore serialised across processes. On
    PostgreSQL the option is ignored; row locks (``FOR NO KEY UPDATE [SKIP LOCKED]``) do the work.
    """
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
