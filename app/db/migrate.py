"""The bot's side of migrations: check the schema, upgrade it in-process, or wait for it.

``python -m app`` upgrades on the running event loop by loading env.py and awaiting its
``run_async_migrations``; ``--no-migrate`` only reads ``alembic_version`` and waits for head.
Neither ever downgrades, nor guesses about a revision this code does not know.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError, load_python_file
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.engine import describe_error
from app.db.migration_support import CALLER_AWAITS, MigrationError

log = structlog.get_logger("app.migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# A waiting process logs when it starts waiting, then this often (it polls more often).
WAIT_LOG_INTERVAL = 10.0


class SchemaError(Exception):
    """The schema is in a state this code must not start on; the message says why."""


@dataclass(frozen=True)
class SchemaReport:
    before: tuple[str, ...]
    after: tuple[str, ...]
    head: str
    seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)

    def log_ready(self, role: str, settings: DatabaseSettings) -> None:
        """The start-up summary every role writes once the schema is at head."""
        log.info(
            "schema ready",
            role=role,
            revision_before=",".join(self.before) or "base",
            revision_after=",".join(self.after) or "base",
            steps=len(self.steps),
            seconds=round(self.seconds, 3),
            database=settings.safe_database_url,
        )


def alembic_config(settings: DatabaseSettings) -> Config:
    """An Alembic config that finds the migrations wherever the bot is started from."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def _label(revisions: tuple[str, ...]) -> str:
    return ",".join(revisions) or "base (empty database)"


def _read_heads(connection: Connection) -> tuple[str, ...]:
    # Read-only: since Alembic 1.4.3 this never creates alembic_version.
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def database_heads(engine: AsyncEngine) -> tuple[str, ...]:
    async with engine.connect() as connection:
        return await connection.run_sync(_read_heads)


def script_head(script: ScriptDirectory) -> str:
    heads = script.get_heads()
    if len(heads) != 1:
        raise SchemaError(
            f"the migrations have several heads ({', '.join(sorted(heads))}); "
            "merge them with `alembic merge heads` before deploying"
        )
    return heads[0]


def _knows(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def check_known(db_heads: tuple[str, ...], script: ScriptDirectory) -> None:
    """Refuse a database this code cannot reason about; never touch it."""
    unknown = [rev for rev in db_heads if not _knows(script, rev)]
    if unknown:
        raise SchemaError(
            f"the database is at revision {', '.join(unknown)}, which this code does not know "
            "(was a newer release deployed, then rolled back?); refusing to start. "
            "Deploy the code that has this revision, or downgrade the database with it first"
        )
    if len(db_heads) > 1:
        raise SchemaError(
            f"the database has several heads ({', '.join(db_heads)}); refusing to start"
        )


async def upgrade_to_head(
    engine: AsyncEngine, config: Config, script: ScriptDirectory
) -> list[dict[str, Any]]:
    """Apply pending revisions on this event loop through env.py's ``run_async_migrations``."""

    def upgrade(rev: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs("head", rev)  # what `alembic upgrade head` runs

    config.attributes["connection"] = engine
    config.attributes[CALLER_AWAITS] = True
    with EnvironmentContext(config, script, fn=upgrade, destination_rev="head"):
        env = load_python_file(script.dir, "env.py")
        await env.run_async_migrations()
    progress = config.attributes.get("progress")
    return list(progress.steps) if progress is not None else []


async def migrate(engine: AsyncEngine, settings: DatabaseSettings) -> SchemaReport:
    """Bring the schema to head (under the migration lock) and report what happened."""
    started = time.perf_counter()
    config = alembic_config(settings)
    script = ScriptDirectory.from_config(config)
    head = script_head(script)
    before = await database_heads(engine)
    check_known(before, script)
    if before == (head,):  # the warm start: one read, nothing else
        return SchemaReport(before, before, head, time.perf_counter() - started)
    log.info("schema behind head; migrating", current=_label(before), head=head)
    try:
        steps = await upgrade_to_head(engine, config, script)
    except MigrationError:
        raise
    except Exception as exc:  # e.g. a Python error inside a revision file
        progress = config.attributes.get("progress")
        revision = progress.failing_revision() if progress else _label(before)
        raise MigrationError(revision, describe_error(exc)) from exc
    after = await database_heads(engine)
    return SchemaReport(before, after, head, time.perf_counter() - started, steps)


async def wait_for_head(
    engine: AsyncEngine,
    settings: DatabaseSettings,
    *,
    interval: float = 1.0,
    log_every: float = WAIT_LOG_INTERVAL,
) -> SchemaReport:
    """``--no-migrate``: never run DDL; poll until another process brought the schema to head.

    Polls every ``interval`` s; logs once when it starts waiting, then every ``log_every`` s.
    """
    started = time.perf_counter()
    script = ScriptDirectory.from_config(alembic_config(settings))
    head = script_head(script)
    before = current = await database_heads(engine)
    deadline = started + settings.schema_wait_timeout
    logged_at: float | None = None
    while True:
        check_known(current, script)
        if current == (head,):
            return SchemaReport(before, current, head, time.perf_counter() - started)
        now = time.perf_counter()
        left = deadline - now
        if left <= 0:
            raise SchemaError(
                f"the database is at revision {_label(current)} but this code needs {head}; "
                f"gave up after SCHEMA_WAIT_TIMEOUT={settings.schema_wait_timeout:g}s. "
                "Run the migrating process (`python -m app` or `alembic upgrade head`) first"
            )
        if logged_at is None or now - logged_at >= log_every:
            logged_at = now
            log.info(
                "waiting for the schema to reach head",
                current=_label(current),
                head=head,
                waited_s=round(now - started, 1),
                seconds_left=round(left, 1),
            )
        await asyncio.sleep(min(interval, left))
        current = await database_heads(engine)
