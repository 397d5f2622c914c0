"""``python -m app admin`` and ``python -m app admin hash-password``: the panel's command line.

Registering the commands imports nothing beyond argparse; the panel's modules are loaded only
when one of them runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from app.config import DatabaseSettings

EXIT_OK = 0
EXIT_ERROR = 1
MIN_PASSWORD = 8


def register(commands: Any) -> None:
    admin = commands.add_parser(
        "admin",
        help="serve the web admin panel on ADMIN_HOST:ADMIN_PORT (needs "
        "ADMIN_PANEL_PASSWORD_HASH; never migrates: waits for the schema to reach head)",
    )
    actions = admin.add_subparsers(dest="admin_action", metavar="ACTION")
    hash_password = actions.add_parser(
        "hash-password",
        help="read a password (twice on a terminal, else one line of stdin) and print its "
        "argon2 hash for ADMIN_PANEL_PASSWORD_HASH",
    )
    hash_password.set_defaults(standalone=hash_password_command)


def serves_panel(args: argparse.Namespace) -> bool:
    """True for ``python -m app admin`` itself (not for its standalone sub-commands)."""
    return bool(args.command == "admin" and getattr(args, "standalone", None) is None)


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
        return EXIT_ERROR
    if len(password) < MIN_PASSWORD:
        print(f"error: use a password of at least {MIN_PASSWORD} characters", file=sys.stderr)
        return EXIT_ERROR
    print(hash_password(password))
    return EXIT_OK
