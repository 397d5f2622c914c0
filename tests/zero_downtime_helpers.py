"""Helpers for the zero-downtime tests: a database at this code's head, a release step run from
a private copy of the project (the "next release"), a bot that must answer, and a second
PostgreSQL session that holds locks while a migration runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN
from tests.processes import BotProcess, bot_env, start_bot

Record = dict[str, object]
NO_API = "http://127.0.0.1:9"  # the release step without WEBHOOK_URL never calls Telegram


async def release_step(project: Path, url: URL, **env: str) -> BotProcess:
    """``python -m app migrate`` from ``project`` (its own code and migrations), to the end."""
    step = await start_bot(bot_env(url, NO_API, **env), "migrate", cwd=project)
    await step.wait(within=300)
    return step


async def until_record(
    process: BotProcess, matches: Callable[[Record], bool], within: float = 120
) -> Record:
    """The first log record of a running process that ``matches`` (polled, never timed)."""
    async with asyncio.timeout(within):
        while True:
            for record in process.records():
                if matches(record):
                    return record
            assert process.process.returncode is None, process.output
            await asyncio.sleep(0.1)


def errors(process: BotProcess) -> list[str]:
    return [str(r["event"]) for r in process.records() if r["level"] == "error"]


def events(process: BotProcess) -> list[object]:
    return [r["event"] for r in process.records()]


async def answers_start(api: FakeBotAPI, user_id: int) -> None:
    """A user sends /start; the bot polling ``api`` answers in that chat."""
    api.push_update(api.build_message(user_id, "/start"))
    await api.wait_for("sendMessage", lambda params: params["chat_id"] == user_id, timeout=60)


@asynccontextmanager
async def polling_bot(
    url: URL, cwd: Path, *args: str
) -> AsyncIterator[tuple[BotProcess, FakeBotAPI]]:
    """``python -m app ARGS`` from ``cwd`` on a fake Bot API of its own, once it polls."""
    async with FakeBotAPI(BOT_TOKEN) as api:
        bot = await start_bot(bot_env(url, api.url), *args, cwd=cwd)
        try:
            await api.wait_for("getUpdates", timeout=120)
            yield bot, api
        finally:
            await bot.stop()


async def finished_start(url: URL, cwd: Path, *args: str) -> BotProcess:
    """``python -m app ARGS`` from ``cwd`` that is expected to stop by itself (a refusal)."""
    async with FakeBotAPI(BOT_TOKEN) as api:
        bot = await start_bot(bot_env(url, api.url), *args, cwd=cwd)
        try:
            await bot.wait(within=120)
        finally:
            await bot.stop()
        assert not api.calls_of("getUpdates"), bot.output
    return bot


def dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def holding(url: URL, *statements: str) -> AsyncIterator[asyncpg.Connection]:
    """Another session with an open transaction that ran ``statements`` (and holds their locks)
    until the block ends; then it rolls back."""
    connection = await asyncpg.connect(dsn(url))
    try:
        transaction = connection.transaction()
        await transaction.start()
        for statement in statements:
            await connection.execute(statement)
        try:
            yield connection
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def fetch_value(url: URL, sql: str, *args: object) -> object:
    connection = await asyncpg.connect(dsn(url))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()
