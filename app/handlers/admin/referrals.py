"""/referral: the referral programme's terms, shown and set by the owners (the same parser and
service as ``python -m app referral``).

/referral
/referral set percent N | hold DAYS | cap N      (or: /referral set TERM default)

A term set here is stored in the database (:mod:`app.services.referral_terms`): the reward pass
and ``/referrals`` read it on every replica, without a restart.
"""

from __future__ import annotations

import structlog
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.base import utcnow
from app.db.uow import read, write
from app.filters.magic import Match
from app.handlers.admin.common import command_args, input_error
from app.i18n import Translator
from app.services import referral_terms
from app.services.products import ShopInputError
from app.services.referral_terms import TERMS, Terms

log = structlog.get_logger(__name__)


def describe(t: Translator, terms: Terms) -> str:
    lines = [t("owner.referral.title")]
    for name, term in TERMS.items():
        if name in terms.owner_set:
            source = t("owner.referral.set_by_owner")
        else:
            source = t("owner.referral.environment", variable=term.variable)
        lines.append(t(f"owner.referral.{name}", value=f"{terms.value(name):g}", source=source))
    return "\n".join(lines)


async def _set(
    session: AsyncSession, settings: Settings, t: Translator, owner: int, args: list[str]
) -> str:
    term, value = referral_terms.parse(args[0], args[1])
    async with write(session):
        await referral_terms.set_term(session, term, value, by=owner, now=utcnow())
        terms = await referral_terms.current(session, referral_terms.defaults(settings))
    log.info("referral term set", term=term.name, value=value, owner_id=owner)
    return t("owner.referral.saved") + "\n\n" + describe(t, terms)


async def referral_command(
    message: Message, session: AsyncSession, settings: Settings, t: Translator
) -> None:
    assert message.from_user is not None
    args = command_args(message).split()
    try:
        if not args:
            async with read(session):
                terms = await referral_terms.current(session, referral_terms.defaults(settings))
            replies = [describe(t, terms), t("owner.referral.usage")]
        elif args[0].lower() == "set" and len(args) == 3:
            replies = [await _set(session, settings, t, message.from_user.id, args[1:])]
        else:
            replies = [t("owner.referral.usage")]
    except ShopInputError as exc:  # refused before any write
        replies = [input_error(t, exc), t("owner.referral.usage")]
    for text in replies:
        await message.answer(text)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(referral_command, Command("referral"), Match(F.from_user))
    return feature
