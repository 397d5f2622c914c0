"""``python -m app migrate``: the release step of a deployment, run once before the replicas.

It brings the schema to head and, when ``WEBHOOK_URL`` is set, registers the webhook
(setWebhook with WEBHOOK_SECRET and the update types the handlers use): the replicas started
afterwards with ``--webhook --no-migrate`` never touch either.
"""

from __future__ import annotations

from app.bot.factory import create_bot
from app.bot.webhook_setup import register_webhook
from app.config import DatabaseSettings
from app.db.engine import create_engine, wait_for_database
from app.db.migrate import migrate
from app.handlers import build_root_router
from app.mode_settings import RegistrationSettings


async def migrate_and_exit(settings: DatabaseSettings) -> None:
    """Bring the schema to head with the same code path, lock and logs as the bot's start.

    With :class:`~app.mode_settings.RegistrationSettings` (WEBHOOK_URL is set), then call
    setWebhook.
    """
    engine = create_engine(settings.database_url, **settings.pool_options)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        report = await migrate(engine, settings)
        report.log_ready("release", settings)
        if isinstance(settings, RegistrationSettings):
            await _register(settings)
    finally:
        await engine.dispose()


async def _register(settings: RegistrationSettings) -> None:
    bot = create_bot(settings)
    try:
        await register_webhook(bot, build_root_router(), settings)
    finally:
        await bot.session.close()
