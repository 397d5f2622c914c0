"""Shop management commands on the bot's entry point (``python -m app product …``).

Each command is registered with ``set_defaults(handler=...)``; a handler is
``async def handler(args, session_factory) -> int`` (the exit code) and prints its result.
The commands use the bot's settings and database, after the bot's schema check.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import DatabaseSettings
from app.db.engine import create_engine, create_session_factory, wait_for_database
from app.db.migrate import wait_for_head

CommandHandler = Callable[[argparse.Namespace, async_sessionmaker[AsyncSession]], Awaitable[int]]


def register_commands(commands: Any) -> None:
    """Add the management sub-commands to the CLI's sub-parsers."""


async def run_command(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    handler: CommandHandler = args.handler
    engine = create_engine(settings.database_url)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        await wait_for_head(engine, settings)
        return await handler(args, create_session_factory(engine))
    finally:
        await engine.dispose()
