"""What env.py needs beyond Alembic: the settings, SQLite's care, per-step logging and floors.

Kept out of env.py so that env.py reads like the ordinary Alembic env it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from app.config import ConfigError, DatabaseSettings, load_settings
from app.db.compat import declaration, record_floor, revision_label
from app.db.migration_lock import MIGRATION_LOCK_KEY, reset_statements, session_statements
from app.logs import configure_logging, is_configured

log = structlog.get_logger("app.migrations")

# Set by a caller that awaits env.run_async_migrations() on its own running event loop.
CALLER_AWAITS = "caller_awaits_run_async_migrations"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


class MigrationError(CommandError):
    """A revision failed; the transaction was rolled back. Alembic's CLI prints it as FAILED."""

    def __init__(self, revision: str, reason: str, *, lock_timeout: bool = False) -> None:
        super().__init__(f"migration {revision} failed and was rolled back: {reason}")
        self.revision = revision
        self.reason = reason
        self.lock_timeout = lock_timeout  # worth another attempt once the lock is free


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether a DDL statement gave up waiting for a table lock (``lock_timeout``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if LOCK_NOT_AVAILABLE in (getattr(seen, "sqlstate", None), getattr(seen, "pgcode", None)):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


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


def offline_session(dialect: str, lock_timeout: float) -> tuple[list[str], list[str]]:
    """``--sql``: the statements around the script, as the online run does them (before, after)."""
    if dialect != "postgresql":
        return [], []
    before = [f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"]
    before += session_statements(lock_timeout, (13,))
    after = [*reset_statements(session_statements(lock_timeout, (13,)))]
    after.append(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
    return before, after


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """``--sql`` writes SQL to stdout, where the log goes too: keep Alembic's INFO lines out."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def own_transactions(
    script: ScriptDirectory, destination: str | None, current: tuple[str, ...]
) -> bool:
    """Whether the revisions about to run include a concurrent one: then each revision runs in
    its own transaction (``transaction_per_migration``), else the whole run is one.

    A fresh database (no revision yet) is always one transaction: its tables are empty, so the
    helpers of :mod:`app.db.online_ddl` build their indexes plainly inside it, and a failed
    first start leaves nothing behind."""
    if destination is None or not current:
        return False
    try:
        pending = list(script.iterate_revisions(destination, current, implicit_base=True))
    except (CommandError, RevisionError):  # a downgrade or a relative target: one transaction
        return False
    return any(declaration(revision).concurrent for revision in pending)


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
        record_floor(ctx, self.script, heads)  # in the step's transaction, with its version row
        now = time.perf_counter()
        record = {
            "direction": "upgrade" if step.is_upgrade else "downgrade",
            "from_revision": revision_label(step.source_revision_ids),
            "to_revision": revision_label(step.destination_revision_ids),
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
        return revision_label(self.heads)
