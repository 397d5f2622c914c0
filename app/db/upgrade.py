"""Applying the pending revisions: the lint gate first, then the upgrade, retried on a lock
timeout. Only the cold path comes here: a warm start never imports this module.

* **The lint gate** (PostgreSQL): each pending revision's SQL goes through squawk. A finding
  that the revision acknowledges is logged with its reason; one that it does not stops the
  start before any DDL runs, with one line naming the revision and the rule.
* **The upgrade** runs env.py's ``run_async_migrations`` on this event loop.
* **Lock timeouts**: DDL that waited longer than ``MIGRATION_LOCK_TIMEOUT`` for a table lock
  fails and rolls back; it is tried again ``MIGRATION_LOCK_RETRIES`` times, with exponential
  backoff and jitter (the same mechanism as the start's other waits, :mod:`app.retry`).
"""

from __future__ import annotations

from typing import Any

import structlog
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import load_python_file
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.compat import SchemaError
from app.db.engine import describe_error
from app.db.migration_support import CALLER_AWAITS, MigrationError
from app.retry import GaveUpError, retry

log = structlog.get_logger("app.migrations")

RETRY_FIRST_SECONDS = 1.0  # then 2, 4, 8… up to RETRY_MOST_SECONDS, plus up to 1 s of jitter
RETRY_MOST_SECONDS = 15.0
RETRY_JITTER_SECONDS = 1.0


async def lint_gate(
    engine: AsyncEngine,
    script: ScriptDirectory,
    current: tuple[str, ...],
    settings: DatabaseSettings,
) -> None:
    """PostgreSQL: refuse a pending revision with an unacknowledged squawk finding."""
    if engine.dialect.name != "postgresql":
        return  # SQLite: squawk lints PostgreSQL's SQL only
    from app.db.lint import lint_revisions  # noqa: PLC0415 (cold path only)

    pending = list(reversed(list(script.iterate_revisions("heads", current, implicit_base=True))))
    async with engine.connect() as connection:
        version = connection.dialect.server_version_info or ()
    pg_version = ".".join(str(part) for part in version[:2]) or None
    for result in await lint_revisions(pending, settings, pg_version):
        for problem in result.problems:
            log.warning("revision declaration", revision=result.revision, problem=problem)
        for finding, reason in result.acknowledged:
            log.warning(
                "lint finding acknowledged",
                revision=result.revision,
                rule=finding.rule,
                reason=reason,
            )
        if result.findings:
            rules = ", ".join(sorted({finding.rule for finding in result.findings}))
            raise SchemaError(
                f"revision {result.revision} ({result.file}) breaks the zero-downtime rule "
                f"{rules}: {result.findings[0].message} Refusing to apply it: change the "
                "revision, or acknowledge the rule with a reason in its lint_acknowledged"
            )


async def upgrade_to_head(
    engine: AsyncEngine, config: Config, script: ScriptDirectory
) -> list[dict[str, Any]]:
    """Apply pending revisions on this event loop through env.py's ``run_async_migrations``."""

    def upgrade(rev: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs("head", rev)  # what `alembic upgrade head` runs

    config.attributes["connection"] = engine
    config.attributes[CALLER_AWAITS] = True
    config.attributes.pop("progress", None)
    try:
        with EnvironmentContext(config, script, fn=upgrade, destination_rev="head"):
            env = load_python_file(script.dir, "env.py")
            await env.run_async_migrations()
    except MigrationError:
        raise
    except Exception as exc:  # e.g. a Python error inside a revision file
        progress = config.attributes.get("progress")
        revision = progress.failing_revision() if progress else "base"
        raise MigrationError(revision, describe_error(exc)) from exc
    progress = config.attributes.get("progress")
    return list(progress.steps) if progress is not None else []


async def upgrade_with_retries(
    engine: AsyncEngine, config: Config, script: ScriptDirectory, settings: DatabaseSettings
) -> list[dict[str, Any]]:
    """:func:`upgrade_to_head`, tried again while its DDL runs into ``lock_timeout``."""

    def on_retry(attempt: int, error: BaseException, sleep: float) -> None:
        assert isinstance(error, MigrationError)
        log.warning(
            "migration hit lock_timeout; rolled back, retrying",
            revision=error.revision,
            attempt=attempt,
            retry_in=round(sleep, 2),
            error=error.reason,
        )

    try:
        return await retry(
            lambda: upgrade_to_head(engine, config, script),
            retry_on=lambda exc: isinstance(exc, MigrationError) and exc.lock_timeout,
            on_retry=on_retry,
            attempts=settings.migration_lock_retries + 1,
            first=RETRY_FIRST_SECONDS,
            most=RETRY_MOST_SECONDS,
            jitter=RETRY_JITTER_SECONDS,
        )
    except GaveUpError as exc:
        last = exc.last
        assert isinstance(last, MigrationError)
        raise MigrationError(
            last.revision,
            f"{last.reason} (still locked after {exc.attempts} attempts; "
            "MIGRATION_LOCK_TIMEOUT and MIGRATION_LOCK_RETRIES set how long it waits)",
        ) from None
