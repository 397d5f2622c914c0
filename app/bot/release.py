"""``python -m app migrate``: the release step of a deployment, run once before the replicas."""

from __future__ import annotations

import structlog

from app.config import DatabaseSettings
from app.db.engine import create_engine, wait_for_database
from app.db.migrate import migrate

log = structlog.get_logger(__name__)


async def migrate_and_exit(settings: DatabaseSettings) -> None:
    """Bring the schema to head with the same code path, lock and logs as the bot's start."""
    engine = create_engine(settings.database_url)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        report = await migrate(engine, settings)
    finally:
        await engine.dispose()
    log.info(
        "schema ready",
        role="release",
        revision_before=",".join(report.before) or "base",
        revision_after=",".join(report.after) or "base",
        steps=len(report.steps),
        seconds=round(report.seconds, 3),
        database=settings.safe_database_url,
    )
