"""Running the bot from the command line: its settings, its secrets, its failures, its modes.

Kept apart from :mod:`app.cli` so that the shop's management commands never import aiogram
(which takes seconds on a small machine).
"""

from __future__ import annotations

import argparse

from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from app.bot.polling import run_polling
from app.bot.release import migrate_and_exit
from app.bot.storage import StorageUnavailableError, redis_secrets
from app.bot.webhook_setup import WebhookRegistrationError, WebhookServerError
from app.config import DatabaseSettings, Settings, load_settings
from app.mode_settings import (
    RegistrationSettings,
    ReleaseSettings,
    ReplicaSettings,
    WebhookSettings,
)


def load(args: argparse.Namespace) -> Settings:
    """The bot's settings, of the class whose validators are its mode's rules; raises
    ConfigError."""
    if args.webhook:
        return load_settings(ReplicaSettings if args.no_migrate else WebhookSettings)
    return load_settings(Settings)


def load_release() -> DatabaseSettings:
    """The release step only needs the database, unless WEBHOOK_URL is set: then it registers
    the webhook and needs the bot's settings too."""
    if load_settings(ReleaseSettings).registers_webhook:
        return load_settings(RegistrationSettings)
    return load_settings(DatabaseSettings)


def secrets(settings: DatabaseSettings) -> list[str]:
    """Values that must never appear in a log line."""
    if not isinstance(settings, Settings):
        return []
    found = [settings.bot_token.get_secret_value()]
    if settings.webhook_secret is not None:
        found.append(settings.webhook_secret.get_secret_value())
    if settings.redis_url is not None:
        found.extend(redis_secrets(settings.redis_url.get_secret_value()))
    return found


def describe_failure(exc: BaseException, settings: DatabaseSettings) -> str | None:
    """One line for an operator, or None for an error that is a bug (and keeps its traceback)."""
    if isinstance(exc, StorageUnavailableError):
        return f"not starting: {exc}"
    if isinstance(exc, WebhookServerError | WebhookRegistrationError):
        return str(exc)
    if isinstance(exc, TelegramUnauthorizedError):
        return "Telegram rejected BOT_TOKEN (401 Unauthorized); check the token from @BotFather"
    if isinstance(exc, TelegramNetworkError):
        url = getattr(settings, "telegram_api_url", "")
        return f"cannot reach the Telegram Bot API at {url}: {exc.message}"
    return None


async def release(settings: DatabaseSettings) -> None:
    """The release step: the schema to head, then setWebhook with RegistrationSettings."""
    await migrate_and_exit(settings)


async def run(args: argparse.Namespace, settings: Settings) -> None:
    if args.webhook:
        from app.bot.webhook import run_webhook  # noqa: PLC0415 (aiohttp.web: webhook role only)

        await run_webhook(settings, migrate=not args.no_migrate)
    else:
        await run_polling(settings, migrate=not args.no_migrate)
