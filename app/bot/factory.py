"""Factories for the Bot and the Dispatcher. Nothing is created at import time."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bot.lifecycle import on_shutdown, on_startup
from app.config import Settings
from app.db.engine import create_session_factory
from app.handlers import build_root_router
from app.middlewares import setup_middlewares
from app.middlewares.db import TransactionGuard


def create_bot(settings: Settings, *, strict_transactions: bool = False) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(TransactionGuard(strict=strict_transactions))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_dispatcher(
    settings: Settings,
    engine: AsyncEngine,
    *,
    migrate: bool,
    storage: BaseStorage | None = None,
) -> Dispatcher:
    """The Dispatcher with its routers, middlewares and lifecycle hooks.

    Handlers receive ``settings`` and a per-update ``session`` by dependency injection;
    the startup hook brings the schema to head (or waits for it) before polling starts.
    """
    dispatcher = Dispatcher(
        storage=storage or MemoryStorage(),
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        migrate=migrate,
    )
    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    setup_middlewares(dispatcher)
    dispatcher.include_router(build_root_router())
    return dispatcher
