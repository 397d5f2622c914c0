"""Startup and shutdown hooks of the Dispatcher."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from app import heap
from app.config import Settings
from app.db.engine import wait_for_database
from app.db.migrate import migrate as migrate_schema
from app.db.migrate import wait_for_head

log = structlog.get_logger(__name__)


async def on_startup(engine: AsyncEngine, settings: Settings, migrate: bool) -> None:
    """Before the first update: the database answers and the schema is at head.

    The migrating role upgrades on this very event loop (env.py's ``run_async_migrations``
    through ``AsyncConnection.run_sync(do_run_migrations)``); a ``--no-migrate`` replica only
    waits. Any error propagates, so polling never starts on a wrong schema.
    """
    await wait_for_database(engine, settings.db_connect_timeout)
    if migrate:
        report = await migrate_schema(engine, settings)
    else:
        report = await wait_for_head(engine, settings)
    report.log_ready("migrate" if migrate else "no-migrate", settings)


async def on_ready() -> None:
    """The last startup hook: what start-up built stays for good (see :mod:`app.heap`)."""
    heap.settle()


async def on_shutdown() -> None:
    """The engine is disposed by the runner after this, once every router's hook has run."""
    log.info("stopped")
