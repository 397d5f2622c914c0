"""/promo add|list|disable: the owners' promo codes (the same parser as ``python -m app promo``).

/promo add <CODE> <10%|50> [scope=shop|category:<title>|product:<slug>] [min=N]
           [until=YYYY-MM-DD] [uses=N] [per_user=N]
/promo list
/promo disable <CODE>
"""

from __future__ import annotations

import structlog
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.uow import read, write
from app.handlers.admin.common import command_args, input_error, split_messages
from app.i18n import Translator
from app.services import promo
from app.services.products import ShopInputError
from app.services.promo import PromoRow

log = structlog.get_logger(__name__)


def describe(t: Translator, row: PromoRow) -> str:
    """One code on one line, in the owner's language."""
    parts = [row.scope_text]
    if row.min_total:
        parts.append(t("owner.promo.min", min=row.min_total))
    if row.expires_at is not None:
        parts.append(t("owner.promo.until", until=row.expires_at.strftime("%Y-%m-%d %H:%M")))
    if row.per_user is not None:
        parts.append(t("owner.promo.per_user", per_user=row.per_user))
    if row.owner_user_id is not None:
        parts.append(t("owner.promo.for_user", user_id=row.owner_user_id))
    if row.disabled:
        parts.append(t("owner.promo.disabled_mark"))
    limit = str(row.max_uses) if row.max_uses is not None else "∞"
    return t(
        "owner.promo.row",
        code=row.code,
        discount=row.discount,
        used=row.used,
        limit=limit,
        details=" · ".join(parts),
    )


async def _add(session: AsyncSession, t: Translator, args: list[str]) -> str:
    spec = promo.parse_spec(args, utcnow().date())
    async with write(session):
        created = await promo.create(session, spec)
        [row] = await promo.rows(session, code=created.code)
    log.info("promo code added", code=created.code, kind=created.kind, value=created.value,
             scope=created.scope)  # fmt: skip
    return t("owner.promo.added") + " " + describe(t, row)  # the row is HTML already


async def _disable(session: AsyncSession, t: Translator, args: list[str]) -> str:
    if len(args) != 1:
        raise ShopInputError("promo_usage")
    async with write(session):
        code, changed = await promo.disable(session, args[0], utcnow())
    if changed:
        log.info("promo code disabled", code=code.code)
    return t("owner.promo.disabled" if changed else "owner.promo.already_disabled", code=code.code)


async def _list(session: AsyncSession, t: Translator) -> list[str]:
    async with read(session):
        found = await promo.rows(session)
    if not found:
        return [t("owner.promo.empty")]
    return split_messages([t("owner.promo.list_title"), *(describe(t, row) for row in found)])


async def promo_command(message: Message, session: AsyncSession, t: Translator) -> None:
    try:
        args = promo.split_args(command_args(message))
        action = args[0].lower() if args else ""
        if action == "add":
            replies = [await _add(session, t, args[1:])]
        elif action == "disable":
            replies = [await _disable(session, t, args[1:])]
        elif action == "list" and len(args) == 1:
            replies = await _list(session, t)
        else:
            replies = [t("owner.promo.usage")]
    except ShopInputError as exc:  # a write block it left rolled back
        replies = [input_error(t, exc), t("owner.promo.usage")]
    for text in replies:
        await message.answer(text)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(promo_command, Command("promo"))
    return feature
