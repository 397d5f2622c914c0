"""The cross-process migration lock, and the session settings a migration runs under.

PostgreSQL: a **session-level** advisory lock, taken on a dedicated autocommit connection and
polled with ``pg_try_advisory_lock``, so that a waiting migrator never sits inside a
transaction. That matters for ``CREATE INDEX CONCURRENTLY``, which waits for every older
transaction to finish: a waiter blocked *inside* a transaction would deadlock with the holder's
concurrent build. The server releases the lock when the holder's connection ends, so a killed
process never leaves it behind. SQLite: ``BEGIN IMMEDIATE`` on the migration connection is the
lock (see :func:`app.db.migration_support.prepare_connection`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("app.migrations")

# pg_advisory locks are per database, so one fixed key serialises the migrators of one database.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"digital-market:alembic_version").digest()[:8], "big", signed=True
)
LOCK_POLL_SECONDS = 0.5
LOCK_LOG_SECONDS = 10.0
# A killed migrator's statement (say, a concurrent index build) is cancelled by the server
# within this, instead of running on without a client (PostgreSQL 14+).
CLIENT_CHECK_INTERVAL = "2s"


@contextmanager
def migration_lock(connection: Connection, *, poll: float = LOCK_POLL_SECONDS) -> Iterator[None]:
    """Hold the migration lock for the block (PostgreSQL); waits for it without a transaction.

    The server-side ``pg_sleep`` between polls keeps a bot's event loop free while it waits.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    holder = connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        _acquire(holder, poll)
        yield
    finally:
        # Ending the session releases its advisory lock: invalidate() closes the DBAPI
        # connection for good, so it never goes back to a pool still holding the lock.
        holder.invalidate()
        holder.close()


def _acquire(holder: Connection, poll: float) -> None:
    try_lock = text("SELECT pg_try_advisory_lock(:key)")
    started = time.perf_counter()
    logged_at: float | None = None
    while not holder.scalar(try_lock, {"key": MIGRATION_LOCK_KEY}):
        now = time.perf_counter()
        if logged_at is None:
            log.info("another process is migrating; waiting for its lock")
            logged_at = now
        elif now - logged_at >= LOCK_LOG_SECONDS:
            log.info("still waiting for the migration lock", waited_s=round(now - started, 1))
            logged_at = now
        holder.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": poll})
    if logged_at is not None:
        log.info("migration lock acquired", waited_s=round(time.perf_counter() - started, 3))


def session_statements(
    lock_timeout: float, server_version: tuple[int | str, ...] | None, *, local: bool = False
) -> list[str]:
    """SET statements for the migration's session (they outlive each revision's transaction)."""
    scope = "SET LOCAL" if local else "SET"
    statements = [f"{scope} lock_timeout = '{int(lock_timeout * 1000)}ms'"]
    if server_version is None or server_version >= (14,):
        statements.append(f"{scope} client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")
    return statements


def reset_statements(statements: list[str]) -> list[str]:
    return [f"RESET {statement.split()[1]}" for statement in statements]


@contextmanager
def migration_session(connection: Connection, lock_timeout: float) -> Iterator[None]:
    """PostgreSQL: a short ``lock_timeout`` for the migration's DDL, reset afterwards.

    Session-level, because a run with a concurrent index commits between revisions; the
    connection goes back to the bot's pool afterwards, so the settings are reset. A caller that
    shares a connection inside its own transaction gets them for that transaction only.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    version = connection.dialect.server_version_info
    if connection.in_transaction():
        for statement in session_statements(lock_timeout, version, local=True):
            connection.exec_driver_sql(statement)
        yield
        return
    statements = session_statements(lock_timeout, version)
    for statement in statements:
        connection.exec_driver_sql(statement)
    connection.commit()
    try:
        yield
    finally:
        try:
            if connection.in_transaction():  # left open by a failure: nothing in it survives
                connection.rollback()
            for statement in reset_statements(statements):
                connection.exec_driver_sql(statement)
            connection.commit()
        except SQLAlchemyError:
            connection.invalidate()  # a broken connection never returns to the pool
