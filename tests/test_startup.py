"""``python -m app`` as a real process: it migrates on its running loop, then polls."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN
from tests.processes import bot_env, start_bot
from tests.schema import all_revisions, head, heads_of, scalar


async def _start_and_poll(url: URL, cwd: Path, *args: str) -> list[dict[str, object]]:
    """Run the bot on its own fake Bot API until its first getUpdates; return its log records."""
    seen: list[tuple[str, ...]] = []

    async def check_schema(_: dict[str, object]) -> None:
        if not seen:
            seen.append(await heads_of(url))

    async with FakeBotAPI(BOT_TOKEN) as api:
        api.on_call("getUpdates", check_schema)
        bot = await start_bot(bot_env(url, api.url), *args, cwd=cwd)
        try:
            await api.wait_for("getUpdates", timeout=60)
        finally:
            code = await bot.stop()
    assert seen == [(head(),)], f"schema at the first getUpdates: {seen}\n{bot.output}"
    assert code == 0, bot.output
    return bot.records()


async def test_migrates_before_first_poll(
    fake_api: FakeBotAPI, db_url: URL, tmp_path: Path
) -> None:
    records = await _start_and_poll(db_url, tmp_path)
    steps = [r for r in records if r["event"] == "migration step applied"]
    assert [s["to_revision"] for s in steps] == list(reversed(all_revisions()))
    assert all(isinstance(s["duration_ms"], float) for s in steps)
    summary = next(r for r in records if r["event"] == "schema ready")
    assert summary["revision_before"] == "base"
    assert summary["revision_after"] == head()
    # getMe and getUpdates come only after the schema is ready.
    events = [r["event"] for r in records]
    assert events.index("schema ready") < events.index("Start polling")
    assert await scalar(db_url, "SELECT count(*) FROM alembic_version") == 1


@pytest.mark.parametrize("args", [[], ["--no-migrate"]], ids=["migrate", "no-migrate"])
async def test_warm_start_applies_nothing(db_url: URL, tmp_path: Path, args: list[str]) -> None:
    """At head, both roles start at once: nothing applied, nothing waited for."""
    await _start_and_poll(db_url, tmp_path)
    records = await _start_and_poll(db_url, tmp_path, *args)
    events = [r["event"] for r in records]
    assert "migration step applied" not in events
    assert "waiting for the schema to reach head" not in events
    summary = next(r for r in records if r["event"] == "schema ready")
    assert summary["revision_before"] == summary["revision_after"] == head()
    assert summary["role"] == ("no-migrate" if args else "migrate")


async def test_default_database_is_market_db_in_working_directory(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """No DATABASE_URL: an embedded SQLite file in the current directory, wherever that is."""
    seen: list[tuple[str, ...]] = []
    target = tmp_path / "market.db"

    async def check_schema(_: dict[str, object]) -> None:
        if not seen:
            seen.append(await heads_of(URL.create("sqlite+aiosqlite", database=str(target))))

    fake_api.on_call("getUpdates", check_schema)
    bot = await start_bot(bot_env(None, fake_api.url), cwd=tmp_path)
    try:
        await fake_api.wait_for("getUpdates", timeout=60)
    finally:
        assert await bot.stop() == 0, bot.output
    assert seen == [(head(),)]
    assert target.exists()


async def test_json_logs_are_one_object_per_line(sqlite_url: URL, tmp_path: Path) -> None:
    records = await _start_and_poll(sqlite_url, tmp_path)  # parses every line as JSON
    assert {"event", "level", "timestamp", "logger"} <= set(records[0])
    loggers = {r["logger"] for r in records}
    # Alembic's and aiogram's stdlib records come out through the same pipeline.
    assert {"alembic.runtime.migration", "aiogram.dispatcher", "app.migrations"} <= loggers


async def test_sigterm_during_polling_exits_cleanly(
    fake_api: FakeBotAPI, sqlite_url: URL, tmp_path: Path
) -> None:
    bot = await start_bot(bot_env(sqlite_url, fake_api.url), cwd=tmp_path)
    await fake_api.wait_for("getUpdates", timeout=60)
    await asyncio.sleep(0.2)  # inside a long poll
    assert await bot.stop() == 0
    assert "Traceback" not in bot.output
    assert any(r["event"] == "stopped" for r in bot.records())
