"""Run the bot by long polling: one process per token (Telegram answers a second with 409)."""

from __future__ import annotations

from app.bot.factory import create_bot, create_dispatcher
from app.config import Settings
from app.db.engine import create_engine


async def run_polling(settings: Settings, *, migrate: bool) -> None:
    """Migrate (or wait for the schema) in the startup hook, then poll until SIGINT/SIGTERM."""
    engine = create_engine(settings.database_url, **settings.pool_options)
    bot = create_bot(settings)
    dispatcher = create_dispatcher(settings, engine, migrate=migrate)
    try:
        await dispatcher.start_polling(bot, polling_timeout=30)
    finally:
        # If the startup hook failed, aiogram skipped its shutdown: close what we opened.
        await bot.session.close()
        await engine.dispose()
