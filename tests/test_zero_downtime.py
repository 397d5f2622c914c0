"""Zero-downtime migrations on real PostgreSQL, with real processes.

The "next release" is a private copy of the project whose migrations end with one more
revision; the code under test plays the previous release, and serves while the next one
migrates (a rolling deploy), or is refused when a contract revision leaves it behind.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from app.bot.health import HealthCheck, Phase, Readiness
from app.db.engine import create_engine
from tests.harness import make_settings, migrated
from tests.revision_files import release_with, revision_source
from tests.schema import all_revisions, head, heads_of, table_exists
from tests.zero_downtime_helpers import (
    answers_start,
    errors,
    events,
    finished_start,
    polling_bot,
    release_step,
)

EXPAND = "e1e1e1e1e1e1"
CONTRACT = "c0c0c0c0c0c0"
REQUIRED = "a0a0a0a0a0a0"
ADD_NULLABLE = 'op.add_column("products", sa.Column("subtitle", sa.Text(), nullable=True))'
DROP_NULLABLE = 'op.drop_column("products", "subtitle")'


def _expand_release(tmp_path: Path) -> Path:
    source = revision_source(EXPAND, head(), ADD_NULLABLE, DROP_NULLABLE, message="subtitles")
    return release_with(tmp_path / "next", source)


async def _probe(url: URL) -> tuple[int, dict[str, object]]:
    """What this code's /healthz answers (in-process), as a replica that is ready."""
    engine = create_engine(url)
    try:
        readiness = Readiness()
        readiness.phase = Phase.READY
        return await HealthCheck(engine, make_settings(url), readiness).probe()
    finally:
        await engine.dispose()


async def test_rolling_deploy_keeps_the_old_replica_serving(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    async with polling_bot(pg_url, tmp_path, "--no-migrate") as (replica, api):
        await answers_start(api, 1)
        release = await release_step(_expand_release(tmp_path), pg_url)
        assert release.process.returncode == 0, release.output
        assert "migration step applied" in events(release)
        assert await heads_of(pg_url) == (EXPAND,)
        await answers_start(api, 2)  # the previous release keeps serving on the new schema
    assert replica.process.returncode == 0, replica.output

    # Restarted during the deploy, each role of the previous release starts on the new schema.
    for args in (["--no-migrate"], []):
        async with polling_bot(pg_url, tmp_path, *args) as (restarted, api):
            await answers_start(api, 3)
        [ahead] = [r for r in restarted.records() if r["event"] == "database ahead but compatible"]
        assert (ahead["revision"], ahead["floor"], ahead["head"]) == (
            EXPAND,
            all_revisions()[-1],
            head(),
        )
        assert "migration step applied" not in events(restarted)
    assert await heads_of(pg_url) == (EXPAND,)  # never downgraded
    status, body = await _probe(pg_url)
    assert (status, body["status"]) == (200, "ok")


async def test_a_contract_release_refuses_the_old_code(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    source = revision_source(
        CONTRACT,
        head(),
        'op.drop_column("users", "username")',
        'op.add_column("users", sa.Column("username", sa.String(64), nullable=True))',
        phase="contract",
        acknowledged={"ban-drop-column": "the release before this one no longer reads it"},
        message="users lose their username",
    )
    release = await release_step(release_with(tmp_path / "next", source), pg_url)
    assert release.process.returncode == 0, release.output
    [acknowledged] = [r for r in release.records() if r["event"] == "lint finding acknowledged"]
    assert (acknowledged["revision"], acknowledged["rule"]) == (CONTRACT, "ban-drop-column")
    assert acknowledged["reason"] == "the release before this one no longer reads it"

    expected = (
        f"not starting: the database is at revision {CONTRACT}, which this code (at {head()}) "
        f"does not know, and a contract revision since then needs the release that has "
        f"revision {CONTRACT} (users lose their username) or a newer one; refusing to start. "
        "Deploy that release"
    )
    for args in (["--no-migrate"], [], ["migrate"]):
        refused = await finished_start(pg_url, tmp_path, *args)
        assert refused.process.returncode == 1, refused.output
        assert errors(refused) == [expected], refused.output
    status, body = await _probe(pg_url)
    assert status == 503 and "unknown to this code" in str(body["reason"])
    assert await heads_of(pg_url) == (CONTRACT,)


async def test_the_start_refuses_an_unacknowledged_finding(pg_url: URL, tmp_path: Path) -> None:
    """No DDL runs: one clear line names the revision and the rule; with an acknowledgement,
    the same revision is applied and its reason logged."""
    await migrated(pg_url)
    operation = 'op.add_column("users", sa.Column("email", sa.Text(), nullable=False))'
    flagged = release_with(tmp_path / "flagged", revision_source(REQUIRED, head(), operation))
    refused = await release_step(flagged, pg_url)
    assert refused.process.returncode == 1, refused.output
    assert "Traceback" not in refused.output
    [error] = errors(refused)
    assert error.startswith(
        f"not starting: revision {REQUIRED} (9999_00_next_release.py) breaks the zero-downtime "
        "rule adding-required-field: "
    ), error
    assert "lint_acknowledged" in error
    assert "migration step applied" not in events(refused)
    assert await heads_of(pg_url) == (head(),)

    reason = "users is written only by /start, and every user row is recreated on its next one"
    source = revision_source(
        REQUIRED, head(), operation, acknowledged={"adding-required-field": reason}
    )
    applied = await release_step(release_with(tmp_path / "acknowledged", source), pg_url)
    assert applied.process.returncode == 0, applied.output
    [acknowledged] = [r for r in applied.records() if r["event"] == "lint finding acknowledged"]
    assert (acknowledged["rule"], acknowledged["reason"]) == ("adding-required-field", reason)
    assert await heads_of(pg_url) == (REQUIRED,)
    assert await table_exists(pg_url, "users")
