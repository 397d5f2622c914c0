"""Command line: run the bot (``python -m app``) and manage the shop from scripts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import structlog
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from app.config import ConfigError, Settings, load_settings
from app.db.engine import DatabaseUnavailableError
from app.db.migrate import SchemaError
from app.db.migration_support import MigrationError
from app.logs import configure_logging

log = structlog.get_logger("app")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Telegram shop bot for digital goods. Without a command, runs the bot: "
        "it migrates the database to head, then polls Telegram for updates.",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="replica mode: never change the schema; wait (SCHEMA_WAIT_TIMEOUT) until another "
        "process has brought it to head",
    )
    return parser


def _secrets(settings: Settings) -> list[str]:
    secrets = [settings.bot_token.get_secret_value()]
    if settings.database_url.password:
        secrets.append(str(settings.database_url.password))
    return secrets


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(Settings)
    except ConfigError as exc:
        configure_logging()
        log.error(str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, json=settings.json_logs, secrets=_secrets(settings))

    from app.bot.polling import run_polling

    try:
        asyncio.run(run_polling(settings, migrate=not args.no_migrate))
    except MigrationError as exc:
        log.error("migration failed; not starting", revision=exc.revision, error=exc.reason)
        return EXIT_FAILURE
    except (SchemaError, DatabaseUnavailableError) as exc:
        log.error(f"not starting: {exc}")
        return EXIT_FAILURE
    except TelegramUnauthorizedError:
        log.error("Telegram rejected BOT_TOKEN (401 Unauthorized); check the token from @BotFather")
        return EXIT_FAILURE
    except TelegramNetworkError as exc:
        log.error(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {exc.message}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
