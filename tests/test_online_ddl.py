"""DDL that waits safely, on real PostgreSQL with real processes: a concurrent index build that
survives ``kill -9``, and lock timeouts that are retried (and, past the retries, fail cleanly).

Another session holds the conflicting lock; the tests release it on what the migrating process
logs or what ``pg_stat_activity`` shows, never after a sleep.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import URL

from tests.harness import migrated
from tests.processes import bot_env, start_bot
from tests.revision_files import release_with, revision_source
from tests.schema import all_revisions, head, heads_of, table_exists
from tests.zero_downtime_helpers import (
    NO_API,
    errors,
    events,
    fetch_value,
    holding,
    release_step,
    until_record,
)

INDEX = "ix_users_first_name"
CONCURRENT = "c1c1c1c1c1c1"
LOCKED = "10c410c410c4"
RETRYING = "migration hit lock_timeout; rolled back, retrying"
BUILDS = "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX CONCURRENTLY%'"
WAITING_BUILDS = f"{BUILDS} AND wait_event_type = 'Lock'"
VALID = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)"
FLOOR = "SELECT floor FROM schema_compatibility WHERE head = $1"


async def _until(url: URL, sql: str, expected: object, within: float = 120) -> None:
    """Poll ``sql`` until it returns ``expected`` (a deadline, not a timing)."""
    async with asyncio.timeout(within):
        while True:
            if await fetch_value(url, sql) == expected:
                return
            await asyncio.sleep(0.1)


async def test_concurrent_index_survives_kill_9(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    source = revision_source(
        CONCURRENT,
        head(),
        f'create_index_concurrently("{INDEX}", "users", ["first_name"])',
        f'drop_index_concurrently("{INDEX}", "users")',
        concurrent=True,
    )
    release = release_with(tmp_path / "next", source)
    env = bot_env(pg_url, NO_API, MIGRATION_LOCK_TIMEOUT="600")

    # A writer's open transaction: the build creates the index, then waits for the writer.
    async with holding(pg_url, "INSERT INTO users (id, first_name) VALUES (1, 'Ann')"):
        step = await start_bot(env, "migrate", cwd=release)
        await _until(pg_url, WAITING_BUILDS, 1)
        assert await fetch_value(pg_url, VALID, INDEX) is False  # built, not valid yet
        assert await heads_of(pg_url) == (head(),)  # and the version row waits for it
        step.process.kill()
        assert await step.wait() == -9
        await _until(pg_url, BUILDS, 0)  # the server cancels the orphaned build
        assert await fetch_value(pg_url, VALID, INDEX) is False  # left INVALID
        assert await heads_of(pg_url) == (head(),)

    rerun = await release_step(release, pg_url)
    assert rerun.process.returncode == 0, rerun.output
    [rebuilt] = [r for r in rerun.records() if r["event"].startswith("index left INVALID")]
    assert rebuilt["index"] == INDEX
    assert await fetch_value(pg_url, VALID, INDEX) is True
    assert await heads_of(pg_url) == (CONCURRENT,)
    assert await fetch_value(pg_url, FLOOR, CONCURRENT) == all_revisions()[-1]  # an expand


def _locked_release(tmp_path: Path) -> Path:
    """A revision that creates a table, then alters products (which another session locks)."""
    upgrade = """op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))
op.add_column("products", sa.Column("note", sa.Text(), nullable=True))"""
    downgrade = """op.drop_column("products", "note")
op.drop_table("notes")"""
    return release_with(tmp_path / "next", revision_source(LOCKED, head(), upgrade, downgrade))


async def test_a_lock_timeout_is_retried_then_succeeds(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    env = bot_env(pg_url, NO_API, MIGRATION_LOCK_TIMEOUT="0.5", MIGRATION_LOCK_RETRIES="10")
    async with holding(pg_url, "LOCK TABLE products IN ACCESS SHARE MODE"):
        step = await start_bot(env, "migrate", cwd=_locked_release(tmp_path))
        retry = await until_record(step, lambda r: r["event"] == RETRYING)
        assert (retry["revision"], retry["attempt"]) == (LOCKED, 1)
        assert "lock timeout" in str(retry["error"])
        assert not await table_exists(pg_url, "notes")  # rolled back as a whole meanwhile
    assert await step.wait(within=300) == 0, step.output
    assert errors(step) == []
    assert await heads_of(pg_url) == (LOCKED,)
    assert await table_exists(pg_url, "notes")


async def test_a_lock_held_past_the_retries_fails_cleanly(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    async with holding(pg_url, "LOCK TABLE products IN ACCESS SHARE MODE"):
        step = await release_step(
            _locked_release(tmp_path),
            pg_url,
            MIGRATION_LOCK_TIMEOUT="0.5",
            MIGRATION_LOCK_RETRIES="2",
        )
    assert step.process.returncode == 1, step.output
    assert "Traceback" not in step.output
    assert events(step).count(RETRYING) == 2
    [failure] = [r for r in step.records() if r["level"] == "error"]
    assert (failure["event"], failure["revision"]) == ("migration failed; not starting", LOCKED)
    assert "lock timeout" in str(failure["error"])
    assert "still locked after 3 attempts" in str(failure["error"])
    assert await heads_of(pg_url) == (head(),)
    assert not await table_exists(pg_url, "notes")  # nothing half-applied
