"""``begin_write``: how app/services/orders.py still begins its reservation writes.

Every other transaction begins and ends in :mod:`app.db.uow` (``write``, ``read``, with the
PostgreSQL autocommit of read-only screens); this goes once orders.py's steps run inside their
callers' ``uow.write`` blocks.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


async def begin_write(session: AsyncSession) -> None:
    """End any open read, then begin a transaction that is going to write (``BEGIN
    IMMEDIATE`` on SQLite, as :func:`app.db.uow.write` does)."""
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
