"""Transactions: how a buyer-side write begins on every backend, and reads that need none."""

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


async def begin_read(session: AsyncSession) -> None:
    """Start a read-only screen: on PostgreSQL its statements run without a transaction.

    A screen reads one or two rows that need no snapshot in common (a card, a page of the
    catalog, the buyer's purchases). In a transaction, asyncpg spends a round trip on BEGIN and
    another on COMMIT around each one; in autocommit, each SELECT is its own round trip and
    nothing else. The pool resets the connection's isolation level when it is returned. On
    SQLite a transaction costs no round trip, and reads keep theirs.
    """
    if session.in_transaction():
        await session.commit()
    if dialect_name(session) == "postgresql":
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
