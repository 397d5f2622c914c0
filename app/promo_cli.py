"""``python -m app promo add|list|disable``: the owners' promo codes from the command line, with
the bot's parser, service and wording (``/promo`` in the bot).

    python -m app promo add CODE 10%|50 [scope=shop|category:<title>|product:<slug>] [min=N]
                            [until=YYYY-MM-DD] [uses=N] [per_user=N]
    python -m app promo list      (every code, the referral rewards too, streamed in pages)
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
from app.services import promo, promo_list
from app.services.products import ShopInputError
from app.services.promo_list import PromoRow

HEADER = (
    "code", "discount", "scope", "min", "expires (UTC)", "used", "uses", "per_user", "state",
    "for_user",
)  # fmt: skip
PAGE = 1000  # codes read and printed at a time


async def add(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        try:
            spec = promo.parse_spec([args.code, args.discount, *args.options], utcnow().date())
            async with write(session):
                created = await promo.create(session, spec)
                [row] = await promo_list.rows(session, code=created.code)
        except ShopInputError as exc:
            return refuse_input(exc)
    print(f"added promo code {row.code}: {row.discount} off, scope {row.scope_text}")
    return EXIT_OK


def _cells(r: PromoRow) -> tuple[str, ...]:
    return (
        r.code,
        r.discount,
        r.scope_text,
        str(r.min_total),
        r.expires_at.strftime("%Y-%m-%d %H:%M") if r.expires_at else "-",
        str(r.used),
        "-" if r.max_uses is None else str(r.max_uses),
        "-" if r.per_user is None else str(r.per_user),
        "disabled" if r.disabled else "active",
        "-" if r.owner_user_id is None else str(r.owner_user_id),
    )


def _line(cells: Sequence[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()


async def listing(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    """Every code, the referral rewards too, newest first, read and printed a page of
    :data:`PAGE` at a time (the columns fit the first page; a longer cell pushes its line)."""
    widths: list[int] = []
    before: int | None = None
    async with factory() as session:
        while True:
            async with read(session):  # a short read per page
                found = await promo_list.rows(session, limit=PAGE, before=before)
            if not found and not widths:
                print("no promo codes yet; add one with: python -m app promo add --help")
                return EXIT_OK
            table = [_cells(row) for row in found]
            if not widths:
                widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(len(HEADER))]
                print(_line(HEADER, widths))
                print("  ".join("-" * width for width in widths))
            for cells in table:
                print(_line(cells, widths))
            if len(found) < PAGE:
                return EXIT_OK
            before = found[-1].id


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
