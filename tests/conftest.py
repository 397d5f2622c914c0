"""Fixtures: a fresh database per test on real PostgreSQL and on SQLite, the fake Bot API, and
the real Dispatcher polling it in-process. The helpers behind them live in :mod:`tests.harness`.

``db_url`` is an empty database (the migration tests start there); ``migrated_db_url`` one at
head, a copy of a database the run migrated once (``CREATE DATABASE … TEMPLATE`` on
PostgreSQL, a file copy on SQLite), which the ``engine`` and ``shop`` fixtures use: the bot
still checks the schema at its start, and finds it at head.

PostgreSQL comes from ``TEST_DATABASE_URL`` (default: the loopback server with trust auth),
Redis from ``TEST_REDIS_URL`` (default: the loopback server, database 0). Without a reachable
server its tests are skipped with a loud reason, except under ``CI=true``, where that fails the
run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from babel.messages.frontend import CommandLineInterface
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import normalize_database_url
from app.db.engine import create_engine, create_session_factory
from app.i18n import LOCALES_DIR
from tests.fake_api import FakeBotAPI
from tests.harness import (
    BOT_TOKEN,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    RunningBot,
    create_pg_database,
    drop_pg_database,
    make_settings,
    migrated,
    probe_postgres,
    probe_redis,
    running_bot,
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests read the texts as edited: compile the catalogs, as the build does."""
    if CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(LOCALES_DIR)]):
        raise pytest.UsageError(f"the catalogs in {LOCALES_DIR} do not compile")


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        asyncio.run(probe_postgres())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL at {TEST_DATABASE_URL} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"!!! SKIPPING POSTGRESQL TESTS: {reason}")
    return True


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis; tests using it must delete the keys they write (it is shared)."""
    try:
        asyncio.run(probe_redis())
    except (OSError, TimeoutError, ConnectionError) as exc:
        reason = f"Redis at {TEST_REDIS_URL} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: Redis tests must run)", pytrace=False)
        pytest.skip(f"!!! SKIPPING REDIS TESTS: {reason}")
    return TEST_REDIS_URL


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


@pytest.fixture(scope="session")
def pg_template(postgres_available: bool) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per run, copied for each test."""
    url = asyncio.run(create_pg_database())
    try:
        asyncio.run(migrated(url))
        yield str(url.database)
    finally:
        asyncio.run(drop_pg_database(url))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "market.db"
    asyncio.run(migrated(normalize_database_url(f"sqlite:///{path}")))
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the file
    return path


@pytest.fixture
def migrated_pg_url(pg_template: str) -> Iterator[URL]:
    url = asyncio.run(create_pg_database(template=pg_template))
    try:
        yield url
    finally:
        asyncio.run(drop_pg_database(url))


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> URL:
    target = tmp_path / "market.db"
    shutil.copyfile(sqlite_template, target)
    return normalize_database_url(f"sqlite:///{target}")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_db_url(request: pytest.FixtureRequest) -> URL:
    """A database at head, on SQLite and on PostgreSQL (each test that takes it runs twice)."""
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    url: URL = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def engine(migrated_db_url: URL) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database at head."""
    engine = create_engine(migrated_db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(BOT_TOKEN) as api:
        yield api


@pytest.fixture
async def shop(
    fake_api: FakeBotAPI, migrated_db_url: URL, request: pytest.FixtureRequest
) -> AsyncIterator[RunningBot]:
    """The whole bot, polling the fake Bot API, on a fresh database at head (SQLite and
    PostgreSQL).

    ``@pytest.mark.settings(auto_refund=False, …)`` changes the bot's settings.
    """
    marker = request.node.get_closest_marker("settings")
    extra = marker.kwargs if marker is not None else {}
    settings = make_settings(migrated_db_url, fake_api.url, **extra)
    async with running_bot(fake_api, settings) as running:
        yield running
