"""/promo add|list|disable: the owners' promo codes (the same parser as ``python -m app promo``).

/promo add <CODE> <10%|50> [scope=shop|category:<title>|product:<slug>] [min=N]
           [until=YYYY-MM-DD] [uses=N] [per_user=N]
/promo list [all] [N]   (page N, 1 first; "all" includes the referral rewards)
/promo disable <CODE>

The list comes a page at a time, newest first, with Previous and Next buttons and the
totals; the referral rewards (codes made for one buyer) are left out unless asked for.
"""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.uow import read, write
from app.handlers.admin.common import command_args, input_error, split_messages
from app.handlers.screens import show
from app.i18n import Translator
from app.keyboards.admin import PromoPage, promo_pager
from app.services import promo, promo_list
from app.services.paging import Page, clamp_page
from app.services.products import ShopInputError
from app.services.promo_list import PromoRow

PAGE = 12  # codes a page: a page is one message

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
        [row] = await promo_list.rows(session, code=created.code)
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


def _list_args(args: list[str]) -> tuple[int, bool] | None:
    """``[all] [N]`` after ``list``, in either order: the zero-based page and whether the
    referral rewards are listed; None for anything else."""
    rewards = "all" in (arg.lower() for arg in args)
    numbers = [arg for arg in args if arg.lower() != "all"]
    if len(args) > 2 or len(numbers) > 1 or len(numbers) + rewards != len(args):
        return None
    if not numbers:
        return 0, rewards
    number = numbers[0]
    if not number.isascii() or not number.isdigit() or not 1 <= int(number) <= PromoPage.LAST:
        return None
    return int(number) - 1, rewards


async def _list(
    session: AsyncSession, t: Translator, page: int, rewards: bool
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """The page's messages (one, unless the codes' texts are very long) and its buttons."""
    async with read(session):
        totals = await promo_list.totals(session)
        page, pages = clamp_page(totals.listed(rewards), page, PAGE)
        found = await promo_list.rows(session, limit=PAGE, offset=page * PAGE, rewards=rewards)
    listed = Page(found, page, pages)
    key = "rewards_listed" if rewards else "rewards_hidden"
    footer = [t("owner.promo.total_shop", count=promo_list.shown(totals.shop))]
    if totals.rewards:
        footer.append(t(f"owner.promo.{key}", count=promo_list.shown(totals.rewards)))
    if not found:
        return ["\n".join([t("owner.promo.empty"), *footer[1:]])], None
    header = t("owner.promo.list_title", page=page + 1, pages=pages)
    lines = [header, *(describe(t, row) for row in found), "", *footer]
    return split_messages(lines), promo_pager(t, listed, rewards=rewards)


async def _send(
    message: Message, replies: list[str], markup: InlineKeyboardMarkup | None = None
) -> None:
    """The replies in order, the buttons under the last."""
    for number, text in enumerate(replies, 1):
        await message.answer(text, reply_markup=markup if number == len(replies) else None)


async def promo_command(message: Message, session: AsyncSession, t: Translator) -> None:
    markup: InlineKeyboardMarkup | None = None
    try:
        args = promo.split_args(command_args(message))
        action = args[0].lower() if args else ""
        listing = _list_args(args[1:]) if action == "list" else None
        if action == "add":
            replies = [await _add(session, t, args[1:])]
        elif action == "disable":
            replies = [await _disable(session, t, args[1:])]
        elif listing is not None:
            replies, markup = await _list(session, t, *listing)
        else:
            replies = [t("owner.promo.usage")]
    except ShopInputError as exc:  # a write block it left rolled back
        replies = [input_error(t, exc), t("owner.promo.usage")]
    await _send(message, replies, markup)


async def promo_page(
    query: CallbackQuery, callback_data: PromoPage, bot: Bot, session: AsyncSession, t: Translator
) -> None:
    """Previous or Next: the page in place of the one shown."""
    replies, markup = await _list(session, t, callback_data.page, callback_data.rewards)
    if len(replies) == 1:
        await show(query, bot, replies[0], markup or InlineKeyboardMarkup(inline_keyboard=[]))
    elif isinstance(query.message, Message):
        await _send(query.message, replies, markup)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(promo_command, Command("promo"))
    feature.callback_query.register(promo_page, PromoPage.filter())
    return feature
