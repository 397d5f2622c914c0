"""``python -m app admin`` and ``python -m app admin hash-password``: the panel's command line.

Registering the commands imports none of the panel's modules (nor its web stack): they are
loaded only when one of the commands runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from types import ModuleType
from typing import Any

from app import heap
from app.config import DatabaseSettings
from app.manage import COMMAND
from app.mode_settings import AdminSettings
from app.modes import Mode

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # as every command's refused input (app.command_errors)
MIN_PASSWORD = 8


def register(commands: Any) -> None:
    admin = commands.add_parser(
        "admin",
        help="serve the web admin panel on ADMIN_HOST:ADMIN_PORT (needs "
        "ADMIN_PANEL_PASSWORD_HASH; never migrates: waits for the schema to reach head)",
    )
    admin.set_defaults(mode=PANEL)
    actions = admin.add_subparsers(dest="admin_action", metavar="ACTION")
    hash_password = actions.add_parser(
        "hash-password",
        help="read a password (twice on a terminal, else one line of stdin) and print its "
        "argon2 hash for ADMIN_PANEL_PASSWORD_HASH",
    )
    hash_password.set_defaults(standalone=hash_password_command, mode=COMMAND)


def _entry() -> ModuleType:
    """The panel's runner: Starlette, SQLAdmin and uvicorn load only for ``python -m app admin``."""
    from app.admin_panel import entry  # noqa: PLC0415

    return entry


class Panel(Mode):
    """``python -m app admin``: the bot's settings plus the panel's, then the web server."""

    def load(self, args: argparse.Namespace) -> AdminSettings:
        settings: AdminSettings = _entry().load()
        return settings

    def secrets(self, settings: DatabaseSettings) -> list[str]:
        assert isinstance(settings, AdminSettings)
        found: list[str] = _entry().secrets(settings)
        return found

    def describe_failure(self, exc: BaseException, settings: DatabaseSettings) -> str | None:
        from app.bot.entry import describe_failure  # noqa: PLC0415 (aiogram: loaded by the panel)

        return describe_failure(exc, settings)

    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        assert isinstance(settings, AdminSettings)
        heap.settle()
        await _entry().run(settings)
        return EXIT_OK


PANEL = Panel()


def _read_password() -> str | None:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            print("error: the two passwords differ; nothing was printed", file=sys.stderr)
            return None
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def hash_password_command(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from app.admin_panel.passwords import hash_password  # noqa: PLC0415 (argon2: this command)

    password = _read_password()
    if password is None:
        return EXIT_BAD_INPUT
    if len(password) < MIN_PASSWORD:
        print(f"error: use a password of at least {MIN_PASSWORD} characters", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(hash_password(password))
    return EXIT_OK
