"""``python -m app migrate``: the release step of a deployment, run once before the replicas.

It brings the schema to head and, when ``WEBHOOK_URL`` is set, registers the webhook
(setWebhook with WEBHOOK_SECRET and the update types the handlers use): the replicas started
afterwards with ``--webhook --no-migrate`` never touch either.
"""

from __future__ import annotations

from app.bot.factory import create_bot
from app.bot.webhook_setup import register_webhook
from app.config import DatabaseSettings, Settings
from app.db.engine import create_engine, wait_for_database
from app.db.migrate import migrate
from app.handlers import build_root_router


class ReleaseSettings(DatabaseSettings):
    """What decides the shape of the release step: with WEBHOOK_URL it needs the bot's settings."""

    webhook_url: str | None = None

    @property
    def registers_webhook(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.strip())


async def migrate_and_exit(settings: DatabaseSettings) -> None:
    """Bring the schema to head with the same code path, lock and logs as the bot's start.

    With the bot's :class:`Settings` and WEBHOOK_URL set, then call setWebhook.
    """
    engine = create_engine(settings.database_url)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        report = await migrate(engine, settings)
        report.log_ready("release", settings)
        if isinstance(settings, Settings) and settings.webhook_url:
            await _register(settings)
    finally:
        await engine.dispose()


async def _register(settings: Settings) -> None:
    bot = create_bot(settings)
    try:
        await register_webhook(bot, build_root_router(), settings)
    finally:
        await bot.session.close()
