"""Command line: run the bot (``python -m app``) and manage the shop from scripts.

Every failure an operator can cause or fix (bad configuration, unreachable database, a schema
this code must not run on, a failing migration, a rejected token) ends in one log line and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import structlog
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from app.bot.polling import run_polling
from app.bot.release import migrate_and_exit
from app.config import ConfigError, DatabaseSettings, Settings, load_settings
from app.db.engine import DatabaseUnavailableError
from app.db.migrate import SchemaError
from app.db.migration_support import MigrationError
from app.logs import configure_logging
from app.manage import register_commands, run_command

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
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="shop management commands"
    )
    commands.add_parser(
        "migrate",
        help="bring the database schema to head and exit (a release step); "
        "exits non-zero if a migration fails",
    )
    register_commands(commands)
    return parser


def _settings_class(command: str | None) -> type[DatabaseSettings]:
    """The bot needs its token; the release step and the shop commands only need the database."""
    return Settings if command is None else DatabaseSettings


def _secrets(settings: DatabaseSettings) -> list[str]:
    secrets = [settings.bot_token.get_secret_value()] if isinstance(settings, Settings) else []
    if settings.database_url.password:
        secrets.append(str(settings.database_url.password))
    return secrets


def _describe_failure(exc: BaseException, settings: DatabaseSettings) -> str | None:
    """One line for an operator, or None for an error that is a bug (and keeps its traceback)."""
    if isinstance(exc, SchemaError | DatabaseUnavailableError):
        return f"not starting: {exc}"
    if isinstance(exc, TelegramUnauthorizedError):
        return "Telegram rejected BOT_TOKEN (401 Unauthorized); check the token from @BotFather"
    if isinstance(exc, TelegramNetworkError):
        url = getattr(settings, "telegram_api_url", "")
        return f"cannot reach the Telegram Bot API at {url}: {exc.message}"
    return None


async def _run(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    if args.command == "migrate":
        await migrate_and_exit(settings)
        return EXIT_OK
    if args.command is not None:
        return await run_command(args, settings)
    assert isinstance(settings, Settings)
    await run_polling(settings, migrate=not args.no_migrate)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(_settings_class(args.command))
    except ConfigError as exc:
        configure_logging()
        log.error(str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, json=settings.json_logs, secrets=_secrets(settings))
    try:
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return EXIT_OK
    except MigrationError as exc:
        log.error("migration failed; not starting", revision=exc.revision, error=exc.reason)
        return EXIT_FAILURE
    except Exception as exc:
        message = _describe_failure(exc, settings)
        if message is None:
            raise
        log.error(message)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
