"""Transactions with one owner: a block that writes, committed when it ends.

Services only read and write through the session they are given; whoever calls them decides
where a transaction begins and ends, and makes its Telegram calls after the block::

    async with write(session):
        outcome = await fulfilment.settle(session, charge_id)
    await bot.send_message(...)  # never inside the block

On SQLite the transaction begins ``IMMEDIATE``: the write lock is taken at BEGIN, so writers
queue up (``busy_timeout``) instead of failing with "database is locked" when a read snapshot
tries to upgrade. On PostgreSQL the option is ignored; row locks do the work.

:data:`open_writes` counts the blocks open in the current task, so that
:class:`app.middlewares.db.TransactionGuard` can prove no Bot API call runs inside one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

open_writes: ContextVar[int] = ContextVar("open_writes", default=0)

SessionFactory = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def write(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit what the block wrote, or roll it back if it raised. Ends any read first."""
    if session.in_transaction():
        await session.commit()  # a read the caller left open; nothing of it is pending
    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    token = open_writes.set(open_writes.get() + 1)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        open_writes.reset(token)


@asynccontextmanager
async def read(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A read-only block: its snapshot ends with it (nothing to commit)."""
    token = open_writes.set(open_writes.get() + 1)
    try:
        yield session
    finally:
        open_writes.reset(token)
        await session.rollback()


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session of its own for one write transaction (background work, several steps)."""
    async with factory() as session, write(session):
        yield session
