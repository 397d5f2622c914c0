"""``python -m app promo add|list|disable``: the owners' promo codes from the command line, with
the bot's parser, service and wording (``/promo`` in the bot).

    python -m app promo add CODE 10%|50 [scope=shop|category:<title>|product:<slug>] [min=N]
                            [until=YYYY-MM-DD] [uses=N] [per_user=N]
    python -m app promo list
    python -m app promo disable CODE

Input the commands refuse (a malformed code or discount, an unknown category, product or code,
a code that exists) is one line on stderr and exit code 2, as for a usage error and as for the
other shop commands (:mod:`app.command_errors`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.command_errors import EXIT_OK, refuse_input
from app.db.base import utcnow
from app.db.uow import read, write
from app.services import promo
from app.services.products import ShopInputError

HEADER = ("code", "discount", "scope", "min", "expires (UTC)", "used", "uses", "per_user", "state")


async def add(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        try:
            spec = promo.parse_spec([args.code, args.discount, *args.options], utcnow().date())
            async with write(session):
                created = await promo.create(session, spec)
                [row] = await promo.rows(session, code=created.code)
        except ShopInputError as exc:
            return refuse_input(exc)
    print(f"added promo code {row.code}: {row.discount} off, scope {row.scope_text}")
    return EXIT_OK


def _lines(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


async def listing(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session, read(session):
        found = await promo.rows(session, limit=10_000)
    if not found:
        print("no promo codes yet; add one with: python -m app promo add --help")
        return EXIT_OK
    table = [
        (
            r.code,
            r.discount,
            r.scope_text,
            str(r.min_total),
            r.expires_at.strftime("%Y-%m-%d %H:%M") if r.expires_at else "-",
            str(r.used),
            "-" if r.max_uses is None else str(r.max_uses),
            "-" if r.per_user is None else str(r.per_user),
            "disabled" if r.disabled else "active",
        )
        for r in found
    ]
    for line in _lines([HEADER, *table]):
        print(line)
    return EXIT_OK


async def disable(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        try:
            async with write(session):
                code, changed = await promo.disable(session, args.code, utcnow())
        except ShopInputError as exc:
            return refuse_input(exc)
    print(f"disabled promo code {code.code}" if changed else f"{code.code} was already disabled")
    return EXIT_OK


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``promo`` to the CLI; ``command`` makes a shop command's parser (app.manage)."""
    parser = commands.add_parser("promo", help="add, list and disable promo codes")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    adding = command(
        actions,
        "add",
        help="add a promo code",
        description="e.g. promo add SAVE10 10%% scope=category:Games min=100 until=2026-12-31 "
        "uses=50 per_user=1 (a fixed discount in Stars: promo add TAKE5 5)",
    )
    adding.add_argument("code", help="3-32 characters A-Z 0-9 _ - (case-insensitive)")
    adding.add_argument("discount", help="10%% (percent off) or 50 (Stars off)")
    adding.add_argument(
        "options",
        nargs="*",
        metavar="OPTION",
        help="scope=shop|category:<title>|product:<slug>, min=N (Stars over the products in "
        "scope), until=YYYY-MM-DD (the last UTC day), uses=N, per_user=N",
    )
    adding.set_defaults(handler=add)
    command(actions, "list", help="the promo codes and their uses").set_defaults(handler=listing)
    disabling = command(actions, "disable", help="disable a promo code")
    disabling.add_argument("code")
    disabling.set_defaults(handler=disable)
