"""The test harness: fresh databases, settings for the bot, and the real Dispatcher polling the
fake Bot API in the test's event loop, with an :class:`UpdateTracker` that tells when an update
has been handled.

Tests and benchmarks import these helpers from here; ``tests/conftest.py`` only turns them into
fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import ErrorEvent, TelegramObject, Update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bot.factory import create_bot, create_dispatcher
from app.config import Settings, normalize_database_url
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from tests.fake_api import FakeBotAPI

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api"
ADMIN_ID = 1000

# --- databases ----------------------------------------------------------------------------------


def admin_dsn() -> str:
    """The maintenance database of TEST_DATABASE_URL, for CREATE/DROP DATABASE."""
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def probe_postgres() -> None:
    """Connect once; raises ``OSError``/``asyncpg.PostgresError``/``TimeoutError`` if down."""
    connection = await asyncpg.connect(admin_dsn(), timeout=5)
    await connection.close()


async def probe_redis() -> None:
    """PING once; raises ``OSError``/``ConnectionError``/``TimeoutError`` if Redis is down."""
    import redis.asyncio as aioredis  # noqa: PLC0415 (only the Redis tests need it)
    from redis.exceptions import RedisError  # noqa: PLC0415

    client = aioredis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=5)
    try:
        await client.ping()
    except RedisError as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        await client.aclose()


async def create_pg_database(template: str | None = None) -> URL:
    """A fresh PostgreSQL database, empty or a copy of ``template``; returns its (normalised)
    URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    connection = await asyncpg.connect(admin_dsn())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()
    return normalize_database_url(TEST_DATABASE_URL).set(database=name)


async def drop_pg_database(url: URL) -> None:
    connection = await asyncpg.connect(admin_dsn())
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await connection.close()


# --- the bot ------------------------------------------------------------------------------------


def make_settings(
    database_url: URL, api_url: str = "http://127.0.0.1:9", **extra: object
) -> Settings:
    return Settings(
        bot_token=BOT_TOKEN,  # type: ignore[arg-type]  # pydantic turns the str into a SecretStr
        database_url=database_url,
        telegram_api_url=api_url,
        admin_ids=frozenset({ADMIN_ID}),
        log_format="json",
        **extra,  # type: ignore[arg-type]  # each test passes the settings fields it changes
    )


async def migrated(url: URL) -> URL:
    """The database at ``url`` migrated to head in-process, as a release step leaves it."""
    engine = create_engine(url)
    try:
        await migrate(engine, make_settings(url))
    finally:
        await engine.dispose()
    return url


class UpdateTracker(BaseMiddleware):
    """Outermost update middleware: an event per finished update, and what it raised.

    Outermost, so that "finished" includes everything the Dispatcher does around a handler:
    aiogram's error handling, the FSM, the session middleware's commit and close.
    """

    def __init__(self) -> None:
        self._done: dict[int, asyncio.Event] = {}
        self.seen: list[int] = []  # update ids in the order they reached the Dispatcher
        self.errors: dict[int, BaseException] = {}  # raised, or handled by the error handler

    def _event(self, update_id: int) -> asyncio.Event:
        return self._done.setdefault(update_id, asyncio.Event())

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        self.seen.append(event.update_id)
        try:
            return await handler(event, data)
        except BaseException as exc:
            self.errors[event.update_id] = exc
            raise
        finally:
            self._event(event.update_id).set()

    async def on_error(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        """Outer middleware on the errors observer: the bot's error handler may answer the user
        and swallow the exception, but a test still sees that its update failed."""
        assert isinstance(event, ErrorEvent)
        self.errors[event.update.update_id] = event.exception
        return await handler(event, data)

    def finished(self, update_id: int) -> bool:
        return self._event(update_id).is_set()

    # ASYNC109: a deadline for the harness, so that a stuck update fails the test; never timing.
    async def wait(
        self,
        *update_ids: int,
        timeout: float = 30.0,  # noqa: ASYNC109
        failing: bool = False,
    ) -> None:
        """Until the bot finished these updates; re-raises the first error a handler raised
        (``failing``: the test makes them fail on purpose, and checks what follows)."""
        async with asyncio.timeout(timeout):
            for update_id in update_ids:
                await self._event(update_id).wait()
        if failing:
            return
        for update_id in update_ids:
            if update_id in self.errors:
                raise AssertionError(f"update {update_id} failed") from self.errors[update_id]

    @classmethod
    def install(cls, dispatcher: Dispatcher) -> UpdateTracker:
        """Register a tracker in front of every update middleware already registered.

        aiogram's middleware manager only appends, so the others are taken out and registered
        again after the tracker (``register``/``unregister`` and the manager's ``Sequence``
        interface are its public API). Nothing awaits in between: no update can slip through.
        """
        tracker = cls()
        manager = dispatcher.update.outer_middleware
        others = list(manager)
        for middleware in others:
            manager.unregister(middleware)
        manager.register(tracker)
        for middleware in others:
            manager.register(middleware)
        dispatcher.errors.outer_middleware.register(tracker.on_error)
        return tracker


@dataclass
class RunningBot:
    """The real Dispatcher polling the fake Bot API in this event loop."""

    api: FakeBotAPI
    bot: Bot
    dispatcher: Dispatcher
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    tracker: UpdateTracker


@contextlib.asynccontextmanager
async def running_bot(api: FakeBotAPI, settings: Settings) -> AsyncIterator[RunningBot]:
    """``python -m app``'s Bot and Dispatcher (strict transaction guard), polling ``api``."""
    engine = create_engine(settings.database_url, **settings.pool_options)
    bot = create_bot(settings, strict_transactions=True)
    dispatcher = create_dispatcher(settings, engine, migrate=True)
    tracker = UpdateTracker.install(dispatcher)
    started = asyncio.Event()
    dispatcher.startup.register(started.set)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        await asyncio.wait_for(_first_of(started, task), timeout=30)
        await api.wait_for("getUpdates")
        worker = dispatcher["money_worker"]  # its first round (reconciliation) has run
        await asyncio.wait_for(worker.first_pass.wait(), timeout=30)
        sessions = create_session_factory(engine)
        yield RunningBot(api, bot, dispatcher, settings, sessions, tracker)
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
