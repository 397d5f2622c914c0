"""``python -m app referral show|set``: the referral programme's terms from the command line,
with the bot's parser, service and wording (``/referral`` in the bot).

    python -m app referral show
    python -m app referral set percent N|hold DAYS|cap N     (or: set TERM default)

The environment (``REFERRAL_HOLD_DAYS``, ``REFERRAL_REWARD_PERCENT``, ``REFERRAL_DAILY_CAP``)
gives the defaults, checked as the bot checks them; a term set here is stored in the database
and applies on every replica at its next read, without a restart. Input the command refuses is
one line on stderr and exit code 2 (:mod:`app.command_errors`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.command_errors import EXIT_OK, refuse_input
from app.config import DatabaseSettings, Settings, load_settings
from app.db.base import utcnow
from app.db.uow import read, write
from app.manage import ShopCommand, command_parser
from app.services import referral_terms
from app.services.products import ShopInputError
from app.services.referral_terms import TERMS, Terms


def _as_the_bot(name: str) -> Any:
    """The bot's own field (default, bounds): the environment is read and checked alike."""
    return Settings.model_fields[name]


class ReferralSettings(DatabaseSettings):
    """The database, and the environment's referral terms (no bot token needed)."""

    referral_hold_days: float = _as_the_bot("referral_hold_days")
    referral_reward_percent: int = _as_the_bot("referral_reward_percent")
    referral_daily_cap: int = _as_the_bot("referral_daily_cap")


class ReferralCommand(ShopCommand):
    def load(self, args: argparse.Namespace) -> DatabaseSettings:
        return load_settings(ReferralSettings)

    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        assert isinstance(settings, ReferralSettings)
        args.environment = referral_terms.defaults(settings)
        return await super().run(args, settings)


COMMAND = ReferralCommand()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _table(terms: Terms) -> list[str]:
    rows = [("term", "value", "from")]
    for name, term in TERMS.items():
        source = "set" if name in terms.owner_set else f"environment ({term.variable})"
        rows.append((name, f"{terms.value(name):g}", source))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


async def show(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session, read(session):
        terms = await referral_terms.current(session, args.environment)
    for line in _table(terms):
        _say(line)
    return EXIT_OK


async def set_term(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    try:
        term, value = referral_terms.parse(args.term, args.value)
    except ShopInputError as exc:
        return refuse_input(exc)
    async with factory() as session:
        async with write(session):
            await referral_terms.set_term(session, term, value, by=None, now=utcnow())
        async with read(session):
            terms = await referral_terms.current(session, args.environment)
    now = f"{terms.value(term.name):g}"
    if value is None:
        _say(f"referral {term.name} is the environment's again ({term.variable}): {now}")
    else:
        _say(f"referral {term.name} set to {now}")
    return EXIT_OK


def register(commands: Any) -> None:
    """Add ``referral`` to the CLI."""
    parser = commands.add_parser("referral", help="show and set the referral programme's terms")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    showing = command_parser(
        actions, "show", mode=COMMAND, help="the terms in force, and where each comes from"
    )
    showing.set_defaults(handler=show)
    setting = command_parser(
        actions,
        "set",
        mode=COMMAND,
        help="set one term",
        description="e.g. referral set percent 15, referral set hold 7, referral set cap 5; "
        "referral set cap default gives the term back to the environment",
    )
    setting.add_argument("term", help="percent (1-100), hold (days, 0-365) or cap (1-1000)")
    setting.add_argument("value", help="the new value, or default")
    setting.set_defaults(handler=set_term)
