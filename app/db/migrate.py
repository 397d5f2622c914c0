"""The bot's side of migrations: check the schema, upgrade it in-process, or wait for it.

``python -m app`` upgrades on the running event loop by loading env.py and awaiting its
``run_async_migrations``; ``--no-migrate`` only reads ``alembic_version`` and waits for head.
Neither ever downgrades. A database at a revision this code does not know is refused, unless
its compatibility floor says this code still runs on it ("database ahead but compatible",
:mod:`app.db.compat`); ``/healthz`` uses the same verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.compat import (
    SchemaError,
    SchemaState,
    Verdict,
    assess,
    read_state,
    revision_label,
)
from app.retry import GaveUpError, retry

__all__ = ["SchemaError", "SchemaReport", "migrate", "wait_for_head"]

log = structlog.get_logger("app.migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# A waiting process logs when it starts waiting, then this often (it polls more often).
WAIT_LOG_INTERVAL = 10.0


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
            revision_before=revision_label(self.before),
            revision_after=revision_label(self.after),
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


def _read_heads(connection: Connection) -> tuple[str, ...]:
    # Read-only: since Alembic 1.4.3 this never creates alembic_version.
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def database_heads(engine: AsyncEngine) -> tuple[str, ...]:
    async with engine.connect() as connection:
        return await connection.run_sync(_read_heads)


async def schema_state(engine: AsyncEngine, script: ScriptDirectory) -> SchemaState:
    """The database's heads, and its compatibility floor if this code does not know them."""
    async with engine.connect() as connection:
        return await connection.run_sync(read_state, script)


def script_head(script: ScriptDirectory) -> str:
    heads = script.get_heads()
    if len(heads) != 1:
        raise SchemaError(
            f"the migrations have several heads ({', '.join(sorted(heads))}); "
            "merge them with `alembic merge heads` before deploying"
        )
    return heads[0]


def log_ahead(state: SchemaState, head: str) -> None:
    assert state.floor is not None
    log.info(
        "database ahead but compatible",
        revision=",".join(state.heads),
        floor=state.floor.floor,
        head=head,
        hint="a newer release migrated with expand revisions only; this code runs on it",
    )


async def migrate(engine: AsyncEngine, settings: DatabaseSettings) -> SchemaReport:
    """Bring the schema to head (under the migration lock) and report what happened."""
    started = time.perf_counter()
    config = alembic_config(settings)
    script = ScriptDirectory.from_config(config)
    head = script_head(script)
    state = await schema_state(engine, script)
    verdict = assess(state, script, head)
    before = state.heads
    if verdict is Verdict.AT_HEAD:  # the warm start: one read, nothing else
        return SchemaReport(before, before, head, time.perf_counter() - started)
    if verdict is Verdict.AHEAD_COMPATIBLE:  # never downgrade: a newer release is deploying
        log_ahead(state, head)
        return SchemaReport(before, before, head, time.perf_counter() - started)
    from app.db.upgrade import lint_gate, upgrade_with_retries  # noqa: PLC0415 (cold path)

    log.info("schema behind head; migrating", current=revision_label(before), head=head)
    await lint_gate(engine, script, before, settings)
    steps = await upgrade_with_retries(engine, config, script, settings)
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

    Polls every ``interval`` s through :func:`app.retry.retry` (the start's one retry
    mechanism); logs once when it starts waiting, then every ``log_every`` s.
    """
    started = time.perf_counter()
    script = ScriptDirectory.from_config(alembic_config(settings))
    head = script_head(script)
    timeout = settings.schema_wait_timeout
    before: tuple[str, ...] | None = None
    logged_at: float | None = None

    async def at_head() -> SchemaReport:
        nonlocal before
        state = await schema_state(engine, script)
        before = state.heads if before is None else before
        verdict = assess(state, script, head)
        if verdict is Verdict.AHEAD_COMPATIBLE:
            log_ahead(state, head)
        if verdict is Verdict.BEHIND:
            raise _SchemaBehindError(state.heads)
        return SchemaReport(before, state.heads, head, time.perf_counter() - started)

    def on_retry(_attempt: int, error: BaseException, _sleep: float) -> None:
        nonlocal logged_at
        now = time.perf_counter()
        if logged_at is None or now - logged_at >= log_every:
            logged_at = now
            assert isinstance(error, _SchemaBehindError)
            log.info(
                "waiting for the schema to reach head",
                current=revision_label(error.heads),
                head=head,
                waited_s=round(now - started, 1),
                seconds_left=round(max(0.0, started + timeout - now), 1),
            )

    try:
        return await retry(
            at_head,
            retry_on=lambda exc: isinstance(exc, _SchemaBehindError),
            on_retry=on_retry,
            within=timeout,
            first=interval,
            most=interval,
        )
    except GaveUpError as exc:
        assert isinstance(exc.last, _SchemaBehindError)
        raise SchemaError(
            f"the database is at revision {revision_label(exc.last.heads)} "
            f"but this code needs {head}; "
            f"gave up after SCHEMA_WAIT_TIMEOUT={timeout:g}s. "
            "Run the migrating process (`python -m app` or `alembic upgrade head`) first"
        ) from None


class _SchemaBehindError(Exception):
    """The schema is not at head yet (worth waiting for)."""

    def __init__(self, heads: tuple[str, ...]) -> None:
        super().__init__(revision_label(heads))
        self.heads = heads
