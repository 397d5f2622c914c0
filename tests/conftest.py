"""Shared fixtures: a fresh database per test on real PostgreSQL and on SQLite, the fake Bot API,
and the real Dispatcher polling it in-process.

PostgreSQL comes from ``TEST_DATABASE_URL`` (default: the loopback server with trust auth).
Without a reachable server the PostgreSQL tests are skipped with a loud reason, except under
``CI=true``, where that fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bot.factory import create_bot, create_dispatcher
from app.config import Settings, normalize_database_url
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from tests.fake_api import FakeBotAPI

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api"
ADMIN_ID = 1000


def _admin_dsn() -> str:
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(_admin_dsn(), timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL at {TEST_DATABASE_URL} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"!!! SKIPPING POSTGRESQL TESTS: {reason}")
    return True


async def create_pg_database() -> URL:
    """A fresh, empty PostgreSQL database; returns its (normalised) URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(_admin_dsn())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return normalize_database_url(TEST_DATABASE_URL).set(database=name)


async def drop_pg_database(url: URL) -> None:
    connection = await asyncpg.connect(_admin_dsn())
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
def pg_url(postgres_available: bool) -> Iterator[URL]:
    url = asyncio.run(create_pg_database())
    try:
        yield url
    finally:
        asyncio.run(drop_pg_database(url))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    return normalize_database_url(f"sqlite:///{tmp_path / 'market.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> URL:
    """Each test that takes it runs twice: on SQLite and on a fresh PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: URL = request.getfixturevalue(fixture)
    return url


def make_settings(
    database_url: URL, api_url: str = "http://127.0.0.1:9", **extra: object
) -> Settings:
    return Settings(
        bot_token=BOT_TOKEN,  # type: ignore[arg-type]
        database_url=database_url,
        telegram_api_url=api_url,
        admin_ids=frozenset({ADMIN_ID}),
        log_format="json",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def engine(db_url: URL) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database migrated to head in-process."""
    engine = create_engine(db_url)
    await migrate(engine, make_settings(db_url))
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(BOT_TOKEN) as api:
        yield api


@dataclass
class RunningBot:
    """The real Dispatcher polling the fake Bot API in this event loop."""

    api: FakeBotAPI
    bot: Bot
    dispatcher: Dispatcher
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def running_bot(api: FakeBotAPI, settings: Settings) -> AsyncIterator[RunningBot]:
    engine = create_engine(settings.database_url)
    bot = create_bot(settings, strict_transactions=True)
    dispatcher = create_dispatcher(settings, engine, migrate=True)
    started = asyncio.Event()
    dispatcher.startup.register(started.set)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        await asyncio.wait_for(_first_of(started, task), timeout=30)
        await api.wait_for("getUpdates")
        yield RunningBot(api, bot, dispatcher, settings, create_session_factory(engine))
    finally:
        if not task.done():
            await dispatcher.stop_polling()
        await task
        await bot.session.close()
        await engine.dispose()


async def _first_of(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.create_task(event.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # re-raise a startup failure


@pytest.fixture
async def shop(fake_api: FakeBotAPI, db_url: URL) -> AsyncIterator[RunningBot]:
    """The whole bot, polling the fake Bot API, on a fresh database (SQLite and PostgreSQL)."""
    async with running_bot(fake_api, make_settings(db_url, fake_api.url)) as running:
        yield running
