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

from app import heap
from app.admin_panel import cli as admin_cli
from app.config import (
    AdminSettings,
    ConfigError,
    DatabaseSettings,
    database_url_secrets,
    load_settings,
)
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
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="shop management commands"
    )
    commands.add_parser(
        "migrate",
        help="bring the database schema to head and exit (a release step); with WEBHOOK_URL "
        "set, then register the webhook (setWebhook). Exits non-zero if either fails",
    )
    register_commands(commands)
    admin_cli.register(commands)
    return parser


def _bot_entry() -> ModuleType:
    """The bot's runner, imported only to run the bot: the shop commands never load aiogram."""
    from app.bot import entry  # noqa: PLC0415 (aiogram takes seconds to import)

    return entry


def _admin_entry() -> ModuleType:
    """The panel's runner: Starlette, SQLAdmin and uvicorn load only for ``python -m app admin``."""
    from app.admin_panel import entry  # noqa: PLC0415

    return entry


def _load(args: argparse.Namespace) -> DatabaseSettings:
    if admin_cli.serves_panel(args):
        admin_settings: AdminSettings = _admin_entry().load()
        return admin_settings
    if args.command is None or args.command == "migrate":
        settings: DatabaseSettings = _bot_entry().load(args)
        return settings
    return load_settings(DatabaseSettings)


def _secrets(args: argparse.Namespace, settings: DatabaseSettings) -> list[str]:
    found = database_url_secrets(settings.database_url)
    if args.command is None or args.command == "migrate":
        found.extend(_bot_entry().secrets(settings))
    if isinstance(settings, AdminSettings):
        found.extend(_admin_entry().secrets(settings))
    return found


def _describe_failure(exc: BaseException, settings: DatabaseSettings) -> str | None:
    """One line for an operator, or None for an error that is a bug (and keeps its traceback)."""
    if isinstance(exc, SchemaError | DatabaseUnavailableError):
        return f"not starting: {exc}"
    if "app.bot.entry" in sys.modules:
        message: str | None = _bot_entry().describe_failure(exc, settings)
        return message
    return None


async def _run(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    if args.command is None or args.command == "migrate":
        await _bot_entry().run(args, settings)
        return EXIT_OK
    if admin_cli.serves_panel(args):
        await _admin_entry().run(settings)
        return EXIT_OK
    return await run_command(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.webhook and args.command is not None:
        parser.error("--webhook runs the bot; it cannot be combined with a command")
    if args.no_migrate and args.command == "migrate":
        parser.error("--no-migrate never changes the schema; it cannot be combined with migrate")
    try:
        settings = _load(args)
    except ConfigError as exc:
        configure_logging()
        log.error(str(exc))
        return EXIT_CONFIG
    configure_logging(settings.log_level, json=settings.json_logs, secrets=_secrets(args, settings))
    if args.command is not None:
        heap.settle()  # the bot settles once it is ready; a command is ready now
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
