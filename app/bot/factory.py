"""Factories for the Bot and the Dispatcher. Nothing is created at import time."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bot.lifecycle import on_ready, on_shutdown, on_startup
from app.bot.response_models import PinResponseModels
from app.bot.storage import create_isolation, create_storage, ping_storage
from app.bot.throttle import PAYSUPPORT_ALERT_PERIOD, create_throttle
from app.bot.webhook_setup import delete_webhook_before_polling
from app.config import Settings
from app.db.engine import create_session_factory
from app.handlers import build_root_router
from app.middlewares import setup_middlewares
from app.middlewares.db import TransactionGuard
from app.workers.broadcast import start_broadcasts, stop_broadcasts
from app.workers.money import start_money_worker, stop_money_worker


def create_bot(settings: Settings, *, strict_transactions: bool = False) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(TransactionGuard(strict=strict_transactions))
    session.middleware(PinResponseModels())
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
    webhook: bool = False,
) -> Dispatcher:
    """The Dispatcher with its routers, middlewares and lifecycle hooks.

    Handlers receive ``settings`` and a per-update ``session`` by dependency injection;
    the startup hook brings the schema to head (or waits for it) before polling starts.

    Without ``storage``, FSM state goes to Redis when REDIS_URL is set (else memory), and a
    startup hook checks that Redis answers. aiogram's own shutdown hook closes the storage.
    A user's updates are handled one at a time (:func:`app.bot.storage.create_isolation`).
    Unless ``webhook``, a startup hook removes any webhook, which would make getUpdates fail
    with 409. The last one settles the heap (:mod:`app.heap`). ``paysupport_throttle`` limits
    the owner alerts of /paysupport, through the same Redis as the FSM state when there is one.
    """
    owned = storage is None
    storage = create_storage(settings) if storage is None else storage
    bot_id = settings.bot_token.get_secret_value().split(":", 1)[0]
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=create_isolation(storage),
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        migrate=migrate,
        paysupport_throttle=create_throttle(storage, PAYSUPPORT_ALERT_PERIOD, bot_id=bot_id),
        webhook=webhook,
    )
    dispatcher.startup.register(on_startup)
    if owned:
        dispatcher.startup.register(_check_storage)
    if not webhook:
        dispatcher.startup.register(delete_webhook_before_polling)
    dispatcher.startup.register(start_money_worker)  # after the schema is at head
    dispatcher.startup.register(start_broadcasts)
    dispatcher.startup.register(on_ready)
    dispatcher.shutdown.register(stop_broadcasts)  # leases given back before the engine goes
    dispatcher.shutdown.register(stop_money_worker)
    dispatcher.shutdown.register(on_shutdown)
    setup_middlewares(dispatcher)
    dispatcher.include_router(build_root_router())
    return dispatcher


async def _check_storage(dispatcher: Dispatcher, settings: Settings) -> None:
    await ping_storage(dispatcher.storage, settings.db_connect_timeout)
