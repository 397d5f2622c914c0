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
from types import ModuleType

import structlog

from app import heap, referral_cli
from app.admin_panel import cli as admin_cli
from app.config import (
    ConfigError,
    DatabaseSettings,
    database_url_secrets,
)
from app.db.engine import DatabaseUnavailableError
from app.db.migrate import SchemaError
from app.db.migration_support import MigrationError
from app.logs import configure_logging
from app.manage import register_commands
from app.modes import Mode

log = structlog.get_logger("app")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _bot_entry() -> ModuleType:
    """The bot's runner, imported only to run the bot: the shop commands never load aiogram."""
    from app.bot import entry  # noqa: PLC0415 (aiogram takes seconds to import)

    return entry


class Bot(Mode):
    """``python -m app [--webhook] [--no-migrate]``: the bot, polling or as a webhook replica."""

    def usage_error(self, args: argparse.Namespace) -> str | None:
        return None  # both options are the bot's

    def load(self, args: argparse.Namespace) -> DatabaseSettings:
        settings: DatabaseSettings = _bot_entry().load(args)
        return settings

    def secrets(self, settings: DatabaseSettings) -> list[str]:
        found: list[str] = _bot_entry().secrets(settings)
        return found

    def describe_failure(self, exc: BaseException, settings: DatabaseSettings) -> str | None:
        message: str | None = _bot_entry().describe_failure(exc, settings)
        return message

    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        await _bot_entry().run(args, settings)  # it settles the heap once it is ready
        return EXIT_OK


class Release(Bot):
    """``python -m app migrate``: the schema to head, then setWebhook when WEBHOOK_URL is set."""

    def usage_error(self, args: argparse.Namespace) -> str | None:
        if args.no_migrate:
            return "--no-migrate never changes the schema; it cannot be combined with migrate"
        return Mode.usage_error(self, args)

    def load(self, args: argparse.Namespace) -> DatabaseSettings:
        settings: DatabaseSettings = _bot_entry().load_release()
        return settings

    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        heap.settle()
        await _bot_entry().release(settings)
        return EXIT_OK


BOT = Bot()
RELEASE = Release()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Telegram shop bot for digital goods. Without a command, runs the bot: "
        "it migrates the database to head, then polls Telegram for updates (or, with "
        "--webhook, serves them as a webhook replica).",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="serve the Bot API webhook on HOST:PORT at WEBHOOK_PATH (and GET /healthz) instead "
        "of polling; needs WEBHOOK_SECRET. Without --no-migrate this process also migrates "
        "and registers the webhook (setWebhook), so it needs WEBHOOK_URL too",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="replica mode: never change the schema; wait (SCHEMA_WAIT_TIMEOUT) until another "
        "process has brought it to head. Applies to the bot and to the shop commands, which "
        "otherwise migrate to head first",
    )
    parser.set_defaults(mode=BOT)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="shop management commands"
    )
    commands.add_parser(
        "migrate",
        help="bring the database schema to head and exit (a release step); with WEBHOOK_URL "
        "set, then register the webhook (setWebhook). Exits non-zero if either fails",
    ).set_defaults(mode=RELEASE)
    register_commands(commands)
    referral_cli.register(commands)
    admin_cli.register(commands)
    return parser


def _describe_failure(mode: Mode, exc: BaseException, settings: DatabaseSettings) -> str | None:
    if isinstance(exc, SchemaError | DatabaseUnavailableError):
        return f"not starting: {exc}"
    return mode.describe_failure(exc, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mode: Mode = args.mode  # each parser's own (set_defaults): what runs, and what it accepts
    if (problem := mode.usage_error(args)) is not None:
        parser.error(problem)
    try:
        settings = mode.load(args)
    except ConfigError as exc:
        configure_logging()
        log.error(str(exc))
        return EXIT_CONFIG
    secrets = [*database_url_secrets(settings.database_url), *mode.secrets(settings)]
    configure_logging(settings.log_level, json=settings.json_logs, secrets=secrets)
    try:
        return asyncio.run(mode.run(args, settings))
    except KeyboardInterrupt:
        return EXIT_OK
    except MigrationError as exc:
        log.error("migration failed; not starting", revision=exc.revision, error=exc.reason)
        return EXIT_FAILURE
    except Exception as exc:
        message = _describe_failure(mode, exc, settings)
        if message is None:
            raise
        log.error(message)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
