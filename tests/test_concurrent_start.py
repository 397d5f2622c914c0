"""Several bot processes started at once on a fresh database, and replicas that wait for head."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import URL

from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN
from tests.processes import bot_env, run_alembic, start_bot
from tests.schema import all_revisions, head, heads_of, scalar

STARTERS = 4


async def test_simultaneous_starters_migrate_exactly_once(db_url: URL, tmp_path: Path) -> None:
    """One process applies the migrations under the lock; the others wait, then see head."""
    apis = [FakeBotAPI(BOT_TOKEN) for _ in range(STARTERS)]  # one bot token per process
    for api in apis:
        await api.start()
    try:
        bots = await asyncio.gather(
            *(start_bot(bot_env(db_url, api.url), cwd=tmp_path) for api in apis)
        )
        try:
            await asyncio.gather(*(api.wait_for("getUpdates", timeout=120) for api in apis))
        finally:
            codes = [await bot.stop() for bot in bots]
    finally:
        for api in apis:
            await api.stop()
    outputs = "\n\n".join(bot.output for bot in bots)
    assert codes == [0] * STARTERS, outputs
    appliers = [
        bot for bot in bots if any(r["event"] == "migration step applied" for r in bot.records())
    ]
    assert len(appliers) == 1, outputs
    applied = [r for r in appliers[0].records() if r["event"] == "migration step applied"]
    assert len(applied) == len(all_revisions())
    for bot in bots:
        summary = next(r for r in bot.records() if r["event"] == "schema ready")
        assert summary["revision_after"] == head()
    assert await scalar(db_url, "SELECT count(*) FROM alembic_version") == 1
    assert await heads_of(db_url) == (head(),)


async def test_replica_waits_for_head_then_polls(
    fake_api: FakeBotAPI, db_url: URL, tmp_path: Path
) -> None:
    """--no-migrate on an empty database: it waits (logging), never migrates, and starts polling
    once another process (here the plain alembic CLI, as in a release step) reached head."""
    replica = await start_bot(
        bot_env(db_url, fake_api.url, SCHEMA_WAIT_TIMEOUT="120"), "--no-migrate", cwd=tmp_path
    )
    try:
        for _ in range(600):
            if any('"waiting for the schema to reach head"' in line for line in replica.lines):
                break
            assert replica.process.returncode is None, replica.output
            await asyncio.sleep(0.1)
        assert not fake_api.calls_of("getUpdates")
        result = await asyncio.to_thread(run_alembic, "upgrade", "head", database_url=db_url)
        assert result.returncode == 0, result.stderr
        await fake_api.wait_for("getUpdates", timeout=60)
    finally:
        code = await replica.stop()
    assert code == 0, replica.output
    records = replica.records()
    waits = [r for r in records if r["event"] == "waiting for the schema to reach head"]
    assert waits[0]["current"] == "base" and waits[0]["head"] == head()
    assert not [r for r in records if r["event"] == "migration step applied"]
    summary = next(r for r in records if r["event"] == "schema ready")
    assert summary["role"] == "no-migrate" and summary["revision_after"] == head()
