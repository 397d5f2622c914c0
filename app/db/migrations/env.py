"""Alembic environment of the digital market, shared by the ``alembic`` CLI and the bot.

* The ``alembic`` CLI loads this file and runs it: offline (``--sql``) it emits SQL;
  online it calls :func:`run_migrations_online`, which ``asyncio.run``s the async path.
* The bot's startup hook loads it with ``caller_awaits_run_async_migrations`` set and then
  awaits :func:`run_async_migrations` itself, on the event loop that is already running.
* Test suites may share a connectable in ``config.attributes["connection"]``: a sync
  ``Connection`` or ``Engine``, or an ``AsyncEngine`` (pytest-alembic passes engines).

The database URL comes from the bot's settings (``DATABASE_URL``), never from alembic.ini.
Logging is never configured from alembic.ini: the stdlib file loader would disable every logger
the bot already has. The bot's structlog pipeline is used instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import models  # noqa: F401  (registers every table on the metadata)
from app.db.base import Base
from app.db.compat import FLOOR_TABLE, record_floor
from app.db.engine import create_engine, describe_error
from app.db.migration_lock import migration_lock, migration_session
from app.db.migration_support import (
    CALLER_AWAITS,
    MigrationError,
    MigrationProgress,
    check_foreign_keys,
    database_settings,
    is_lock_timeout,
    offline_session,
    own_transactions,
    prepare_connection,
    quiet_alembic,
    restore_connection,
)
from app.db.models import UNMODELLED_INDEXES

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the project's UTCDateTime as a plain ``sa.DateTime(timezone=True)``."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """The compatibility floor's table belongs to the migration runner, like alembic_version."""
    return not (type_ == "table" and name == FLOOR_TABLE)


def _include_object(_obj: Any, name: str | None, type_: str, _reflected: bool, _other: Any) -> bool:
    """Indexes built by revisions and not declared in the models are not compared."""
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def _options(dialect: str) -> dict[str, Any]:
    return {
        "include_name": _include_name,
        "include_object": _include_object,
        "target_metadata": target_metadata,
        "compare_type": True,
        # SQLite reflects server defaults too loosely to compare them reliably.
        "compare_server_default": dialect != "sqlite",
        "render_as_batch": dialect == "sqlite",  # SQLite alters tables by copying them
        "render_item": _render_item,
        "transactional_ddl": True,  # SQLite too: our engine emits BEGIN before DDL
    }


def _destination() -> str | None:
    """The target revision of the running command (``revision --autogenerate`` has none)."""
    try:
        destination = context.get_revision_argument()
    except KeyError:
        return None
    return destination if isinstance(destination, str) else None


def run_migrations_offline() -> None:
    """Emit the migration SQL (``alembic upgrade head --sql``); needs no reachable database.

    It is the SQL the online run executes, the same statements around it included (on
    PostgreSQL: the session lock and ``lock_timeout``), so it is also what the lint checks.
    """
    settings = database_settings(config)
    url = settings.database_url
    dialect = url.get_backend_name()
    start = context.get_starting_revision_argument()
    current = tuple(start) if isinstance(start, tuple) else ((start,) if start else ())
    before, after = offline_session(dialect, settings.migration_lock_timeout)
    with quiet_alembic():
        context.configure(
            url=url.render_as_string(hide_password=False),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            on_version_apply=lambda *, ctx, heads, **_: record_floor(ctx, context.script, heads),
            transaction_per_migration=own_transactions(context.script, _destination(), current),
            **_options(dialect),
        )
        for statement in before:
            context.execute(statement)
        with context.begin_transaction():
            context.run_migrations()
        for statement in after:
            context.execute(statement)


def _own_transactions(connection: Connection) -> bool:
    """PostgreSQL, with the lock held: does a pending revision build an index concurrently?"""
    if connection.dialect.name != "postgresql":
        return False
    began = not connection.in_transaction()
    current = tuple(MigrationContext.configure(connection).get_current_heads())
    if began and connection.in_transaction():
        connection.rollback()  # Alembic must begin the migration's transaction itself
    return own_transactions(context.script, _destination(), current)


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations over ``connection``, holding the migration lock.

    The whole run is one transaction, unless a pending revision builds an index concurrently:
    then each revision runs in its own. The current revision is read only after the lock is
    held, so a process that waited for another one's upgrade finds the schema at head.
    """
    settings = database_settings(config)
    progress = MigrationProgress(context.script, _destination())
    prepare_connection(connection)
    try:
        with (
            migration_lock(connection),
            migration_session(connection, settings.migration_lock_timeout),
        ):
            context.configure(
                connection=connection,
                on_version_apply=progress.on_version_apply,  # type: ignore[arg-type]
                transaction_per_migration=_own_transactions(connection),
                **_options(connection.dialect.name),
            )
            config.attributes["progress"] = progress
            with context.begin_transaction():
                progress.start(context.get_context())
                context.run_migrations()
                check_foreign_keys(connection)
    except SQLAlchemyError as exc:  # other exceptions (e.g. test harness control flow) pass
        raise MigrationError(
            progress.failing_revision(), describe_error(exc), lock_timeout=is_lock_timeout(exc)
        ) from exc
    finally:
        restore_connection(connection)


async def run_async_migrations() -> None:
    """Create an async engine (unless one was shared), and run the migrations over it."""
    shared = config.attributes.get("connection")
    if isinstance(shared, AsyncEngine):
        engine = shared
    else:
        engine = create_engine(database_settings(config).database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        if engine is not shared:
            await engine.dispose()


def run_migrations_online() -> None:
    """Online mode from a synchronous caller (the CLI, or a test suite sharing a connectable)."""
    shared = config.attributes.get("connection")
    if isinstance(shared, Connection):
        do_run_migrations(shared)
    elif isinstance(shared, Engine):
        with shared.connect() as connection:
            do_run_migrations(connection)
    elif isinstance(shared, AsyncEngine):
        asyncio.run(_on_a_loop_of_its_own(shared))
    else:
        asyncio.run(run_async_migrations())


async def _on_a_loop_of_its_own(engine: AsyncEngine) -> None:
    """A caller's AsyncEngine, driven by this command's own ``asyncio.run``.

    Pooled connections belong to the event loop that opened them, and each command here runs
    on a new loop. So connections pooled by a loop that is gone are dropped unused first, and
    this loop's connections are closed on this loop before it ends: the caller's engine stays
    usable, from its next loop too. (The bot never comes here: it awaits
    :func:`run_async_migrations` on its own loop and keeps its engine's pool.)
    """
    await engine.dispose(close=False)
    try:
        await run_async_migrations()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif not config.attributes.get(CALLER_AWAITS):
    run_migrations_online()
