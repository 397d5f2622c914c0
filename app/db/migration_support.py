"""What env.py needs beyond Alembic: the URL, the cross-process lock, and per-step logging.

Kept out of env.py so that env.py reads like the ordinary Alembic env it is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from app.config import ConfigError, DatabaseSettings, load_settings
from app.logs import configure_logging, is_configured

log = structlog.get_logger("app.migrations")

# pg_advisory locks are per database, so one fixed key serialises the migrators of one database.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"digital-market:alembic_version").digest()[:8], "big", signed=True
)
# Set by a caller that awaits env.run_async_migrations() on its own running event loop.
CALLER_AWAITS = "caller_awaits_run_async_migrations"


class MigrationError(CommandError):
    """A revision failed; the transaction was rolled back. Alembic's CLI prints it as FAILED."""

    def __init__(self, revision: str, reason: str) -> None:
        super().__init__(f"migration {revision} failed and was rolled back: {reason}")
        self.revision = revision
        self.reason = reason


def database_settings(config: Config) -> DatabaseSettings:
    """Settings from the caller (the bot) or, for the CLI, from the environment and ``.env``."""
    settings = config.attributes.get("settings")
    if settings is None:
        try:
            settings = load_settings(DatabaseSettings)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        config.attributes["settings"] = settings
    assert isinstance(settings, DatabaseSettings)
    if not is_configured():  # the plain alembic CLI: same log pipeline as the bot
        configure_logging(settings.log_level, json=settings.json_logs)
    return settings


def database_url(config: Config) -> URL:
    return database_settings(config).database_url


def lock_statements(dialect: str, lock_timeout: float) -> list[str]:
    """SQL that serialises migrators; it runs first inside the migration transaction."""
    if dialect != "postgresql":
        return []  # SQLite: the migration connection begins with BEGIN IMMEDIATE instead
    return [
        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})",
        f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'",
    ]


def take_migration_lock(connection: Connection, lock_timeout: float) -> None:
    """Wait for the migration lock, held until this transaction commits or rolls back.

    PostgreSQL: a transaction-level advisory lock (released at COMMIT/ROLLBACK, even if the
    process dies), then a short ``lock_timeout`` so that DDL queued behind a long query fails
    instead of blocking every reader. SQLite: BEGIN IMMEDIATE already holds the write lock.
    """
    if connection.dialect.name != "postgresql":
        return
    got = connection.scalar(text(f"SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
    if not got:
        log.info("another process is migrating; waiting for its lock")
        started = time.perf_counter()
        connection.execute(text(lock_statements("postgresql", lock_timeout)[0]))
        log.info("migration lock acquired", waited_s=round(time.perf_counter() - started, 3))
    connection.execute(text(lock_statements("postgresql", lock_timeout)[1]))


def prepare_connection(connection: Connection) -> None:
    """Before the migration transaction begins, on SQLite: take the write lock at BEGIN, and
    switch foreign keys off, as batch mode needs to copy and drop referenced tables (SQLite
    ignores the pragma inside a transaction, so it must come first)."""
    if connection.dialect.name == "sqlite" and not connection.in_transaction():
        connection.execution_options(sqlite_begin="IMMEDIATE", sqlite_foreign_keys=False)


def check_foreign_keys(connection: Connection) -> None:
    """SQLite, before COMMIT: the migrated data must still satisfy every foreign key."""
    if connection.dialect.name != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({str(row[0]) for row in violations})
        raise CommandError(f"the migration broke foreign keys in {', '.join(tables)}")


def restore_connection(connection: Connection) -> None:
    """After the migration transaction: foreign keys back on for the pooled connection.

    Sent on the driver's cursor, so that SQLAlchemy does not open a transaction around it.
    """
    if connection.dialect.name == "sqlite" and not connection.in_transaction():
        cursor = connection.connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()


@dataclass
class MigrationProgress:
    """Logs each step with its revisions and duration; knows which revision failed."""

    script: ScriptDirectory
    destination: str | None
    heads: tuple[str, ...] = ()
    steps: list[dict[str, Any]] = field(default_factory=list)
    _mark: float = field(default_factory=time.perf_counter)

    def start(self, migration_context: MigrationContext) -> None:
        self.heads = tuple(migration_context.get_current_heads())
        self._mark = time.perf_counter()

    def on_version_apply(
        self, *, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: Any
    ) -> None:
        now = time.perf_counter()
        record = {
            "direction": "upgrade" if step.is_upgrade else "downgrade",
            "from_revision": _label(step.source_revision_ids),
            "to_revision": _label(step.destination_revision_ids),
            "duration_ms": round((now - self._mark) * 1000, 1),
        }
        self._mark = now
        self.heads = tuple(heads)
        self.steps.append(record)
        log.info("migration step applied", **record)

    def failing_revision(self) -> str:
        """The revision that was running when an error struck: the next one after ``heads``."""
        try:
            pending = list(self.script.iterate_revisions(self.destination or "heads", self.heads))
        except CommandError:
            pending = []
        if pending:
            return pending[-1].revision
        return _label(self.heads)


def _label(revisions: Sequence[str] | set[str] | tuple[str, ...]) -> str:
    return ",".join(sorted(revisions)) or "base"
