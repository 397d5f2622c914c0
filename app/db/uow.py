"""Transactions with one owner: the only place a transaction begins and ends.

Services only read and write through the session they are given; whoever calls them (a
handler, a flow, a worker) decides where a transaction begins and ends, and makes its Telegram
calls after the block::

    async with write(session):
        outcome = await fulfilment.settle(session, charge_id)
    await bot.send_message(...)  # never inside the block

    async with read(session, autocommit=True):  # a read-only screen
        page = await catalog.page(session, ...)
    await message.answer(...)

On SQLite a write block begins ``IMMEDIATE``: the write lock is taken at BEGIN, so writers
queue up (``busy_timeout``) instead of failing with "database is locked" when a read snapshot
tries to upgrade. On PostgreSQL the option is ignored; row locks do the work.

A read block's ``autocommit`` runs its statements without a transaction on PostgreSQL: a
screen reads a row or two that need no snapshot in common (at READ COMMITTED each statement has
its own snapshot anyway), and in a transaction asyncpg spends a round trip on BEGIN and another
on COMMIT around them; in autocommit each SELECT is its own round trip and nothing else. The
pool resets the connection's isolation level when it is returned. On SQLite a transaction costs
no round trip, and reads keep theirs.

Blocks do not nest on one session (the inner one would end the outer one's transaction): that
raises :class:`NestedBlockError`. Nothing is ever written outside a block: sessions come from
:func:`app.db.engine.create_session_factory` with :class:`TrackedSession`, which remembers
whether its transaction wrote (an ORM flush, or an INSERT, UPDATE or DELETE executed through
it), and a block that finds a write left pending or flushed before it raises
:class:`StrayWriteError` instead of committing it; a read block that wrote raises
:class:`ReadBlockWroteError` and rolls back. :data:`open_writes` counts the blocks open in the
current task, so that :class:`app.middlewares.db.TransactionGuard` can prove no Bot API call
runs inside one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

open_writes: ContextVar[int] = ContextVar("open_writes", default=0)

SessionFactory = async_sessionmaker[AsyncSession]

_IN_BLOCK = "uow_block"
_WROTE = "uow_wrote"


class NestedBlockError(RuntimeError):
    """A transaction block was opened on a session already inside one."""


class ReadBlockWroteError(RuntimeError):
    """A read block added, changed or deleted an object."""


class StrayWriteError(RuntimeError):
    """A block found writes made outside any block on its session (they are rolled back)."""


class TrackedSession(Session):
    """The shop's Session: knows whether its current transaction has written anything."""


@event.listens_for(TrackedSession, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    session.info[_WROTE] = True


@event.listens_for(TrackedSession, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(TrackedSession, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_WROTE, None)


def wrote(session: AsyncSession | Session) -> bool:
    """Whether the session holds writes not yet committed (pending, or flushed in its
    transaction)."""
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE, False))


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _enter(session: AsyncSession) -> None:
    if session.info.get(_IN_BLOCK):
        raise NestedBlockError("a transaction block is already open on this session")
    if wrote(session):
        await session.rollback()
        raise StrayWriteError("writes were made outside a transaction block; rolled back")
    if session.in_transaction():
        await session.commit()  # a read the caller left open: nothing in it to write
    session.info[_IN_BLOCK] = True


@asynccontextmanager
async def write(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit what the block wrote, or roll it back if it raised. Ends any read first."""
    await _enter(session)
    token = open_writes.set(open_writes.get() + 1)
    try:
        await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        open_writes.reset(token)
        session.info.pop(_IN_BLOCK, None)


@asynccontextmanager
async def read(session: AsyncSession, *, autocommit: bool = False) -> AsyncIterator[AsyncSession]:
    """A read-only block: its snapshot ends with it.

    It ends with a COMMIT that has nothing to write, so the objects it loaded stay usable after
    it (a rollback would expire them); a block that changed an object is an error, and rolled
    back. ``autocommit``: on PostgreSQL, no transaction at all (see the module's docstring);
    for screens whose statements need no snapshot in common and take no locks.
    """
    await _enter(session)
    token = open_writes.set(open_writes.get() + 1)
    try:
        if autocommit and dialect_name(session) == "postgresql":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
        if wrote(session):
            raise ReadBlockWroteError("a read block changed objects; use write()")
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        open_writes.reset(token)
        session.info.pop(_IN_BLOCK, None)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session of its own for one write transaction (background work, several steps)."""
    async with factory() as session, write(session):
        yield session
