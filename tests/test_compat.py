"""The compatibility floor, in-process on SQLite and PostgreSQL: recorded with every migration
step, read only for a head this code does not know, and the same verdict for the migrating
start, the ``--no-migrate`` wait and ``/healthz``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from app.bot.health import HealthCheck, Phase, Readiness
from app.db.compat import SchemaError, floor_of
from app.db.engine import create_engine
from app.db.migrate import migrate, wait_for_head
from tests.harness import make_settings, migrated
from tests.processes import run_alembic
from tests.revision_files import release_with, revision_source
from tests.schema import all_revisions, execute, head, heads_of, scalar

FIRST = all_revisions()[-1]
UNKNOWN = "f00dfeedbeef"


async def _floor(url: URL) -> list[tuple[object, ...]]:
    rows = await scalar(url, "SELECT count(*) FROM schema_compatibility")
    if rows == 0:
        return []
    return [
        (
            await scalar(url, "SELECT head FROM schema_compatibility"),
            await scalar(url, "SELECT floor FROM schema_compatibility"),
            await scalar(url, "SELECT floor_doc FROM schema_compatibility"),
        )
    ]


async def _start_and_probe(url: URL) -> tuple[object, object, int]:
    """The three verdicts of this code on the database: migrate, wait for head, /healthz."""
    settings = make_settings(url, schema_wait_timeout=0)
    engine = create_engine(url)
    try:
        readiness = Readiness()
        readiness.phase = Phase.READY
        status, _ = await HealthCheck(engine, settings, readiness).probe()
        outcomes: list[object] = []
        for start in (migrate, wait_for_head):
            try:
                report = await start(engine, settings)
                outcomes.append(report.after)
            except SchemaError as exc:
                outcomes.append(str(exc))
        return outcomes[0], outcomes[1], status
    finally:
        await engine.dispose()


async def test_every_step_records_the_floor_with_its_version(db_url: URL) -> None:
    await migrated(db_url)
    assert await _floor(db_url) == [(head(), FIRST, "initial market schema")]
    result = await asyncio.to_thread(run_alembic, "downgrade", FIRST, database_url=db_url)
    assert result.returncode == 0, result.stderr
    assert await _floor(db_url) == [(FIRST, FIRST, "initial market schema")]
    result = await asyncio.to_thread(run_alembic, "downgrade", "base", database_url=db_url)
    assert result.returncode == 0, result.stderr
    assert await _floor(db_url) == []


async def test_ahead_but_compatible_starts_everywhere(db_url: URL) -> None:
    """A newer release's expand revision (its floor is at or below this code's head)."""
    await migrated(db_url)
    await execute(
        db_url,
        f"UPDATE alembic_version SET version_num = '{UNKNOWN}'",
        f"UPDATE schema_compatibility SET head = '{UNKNOWN}', floor = '{FIRST}'",
    )
    migrating, waited, status = await _start_and_probe(db_url)
    assert (migrating, waited, status) == ((UNKNOWN,), (UNKNOWN,), 200)
    assert await heads_of(db_url) == (UNKNOWN,)  # never downgraded, never touched


@pytest.mark.parametrize(
    ("floor", "needs"),
    [
        ("0badc0de0000", "needs the release that has revision 0badc0de0000 (payments) or a newer"),
        (None, "which this code does not know (was a newer release deployed, then rolled back?)"),
    ],
    ids=["floor-past-this-code", "no-floor"],
)
async def test_ahead_and_incompatible_is_refused_everywhere(
    db_url: URL, floor: str | None, needs: str
) -> None:
    await migrated(db_url)
    statements = [f"UPDATE alembic_version SET version_num = '{UNKNOWN}'"]
    if floor is None:
        statements.append("DELETE FROM schema_compatibility")
    else:
        statements.append(
            f"UPDATE schema_compatibility SET head = '{UNKNOWN}', floor = '{floor}', "
            "floor_doc = 'payments'"
        )
    await execute(db_url, *statements)
    migrating, waited, status = await _start_and_probe(db_url)
    assert migrating == waited
    assert isinstance(migrating, str) and needs in migrating, migrating
    assert f"revision {UNKNOWN}" in migrating
    assert status == 503


def test_the_floor_follows_expand_and_contract(tmp_path: Path) -> None:
    chain = [("e1", "expand"), ("c1", "contract"), ("e2", "expand"), ("e3", "expand")]
    sources, down = [], head()
    for name, phase in chain:
        revision = name * 6
        sources.append(revision_source(revision, down, "pass", phase=phase))
        down = revision
    sources.append(revision_source("ab" * 6, down, "pass", phase=None))  # undeclared: contract
    project = release_with(tmp_path / "next", *sources)
    config = Config()
    config.set_main_option("script_location", str(project / "app" / "db" / "migrations"))
    script = ScriptDirectory.from_config(config)
    revisions = [*all_revisions(), *(name * 6 for name, _ in chain), "ab" * 6]
    floors = {revision: floor_of(script, revision).revision for revision in revisions}
    assert floors == {
        **{revision: FIRST for revision in all_revisions()},  # the project's: all expand
        "e1" * 6: FIRST,
        "c1" * 6: "c1" * 6,
        "e2" * 6: "c1" * 6,
        "e3" * 6: "c1" * 6,
        "ab" * 6: "ab" * 6,
    }
