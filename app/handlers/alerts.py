"""Restock alerts, the buyer's side: 🔔 Notify me on a sold-out card (and Stop notifying), and
/alerts, the list of what the buyer waits for, each with a button to leave it.

The "back in stock" messages themselves are sent by the broadcast worker
(:mod:`app.services.restock`)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import read, write
from app.filters.magic import Match
from app.handlers.catalog import card_text
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.keyboards import restock as restock_kb
from app.keyboards.restock import LeaveCb, WatchCb
from app.services import catalog, restock, users
from app.services.restock import WatchRefusedError


async def _card(
    session: AsyncSession,
    t: Translator,
    settings: Settings,
    *,
    product_id: int,
    page: int,
    viewer: int,
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The product's card as the catalog shows it (with the watch button when sold out)."""
    async with read(session):
        card = await catalog.product_card(session, product_id, viewer)
        watching = await restock.card_watch(session, card, viewer)
    if card is None:
        return None
    markup = kb.product_card(t, card, page, max_qty=max(1, min(settings.max_quantity, card.left)))
    return restock_kb.with_watch(
        t, card_text(t, card), markup, card.id, watching=watching, page=page
    )


async def watch_button(
    query: CallbackQuery,
    *,
    callback_data: WatchCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    viewer, product_id = query.from_user.id, callback_data.product
    notice: str | None = None
    try:
        async with write(session):
            if callback_data.action == "on":
                await users.upsert_user(session, query.from_user)
                await restock.watch(session, viewer, product_id)
                notice = t("buyer.restock.joined")
            elif await restock.unwatch(session, viewer, product_id):
                notice = t("buyer.restock.left")
    except WatchRefusedError as exc:
        if exc.code == "limit":
            tell(callback_answer, t("buyer.restock.limit", n=restock.MAX_WATCHES), alert=True)
            return
        notice = t("buyer.restock.in_stock") if exc.code == "in_stock" else None
    page = callback_data.page
    screen = await _card(session, t, settings, product_id=product_id, page=page, viewer=viewer)
    if screen is None:
        tell(callback_answer, t("buyer.catalog.gone"), alert=True)
        return
    await show(query, bot, *screen)
    if notice is not None:
        tell(callback_answer, notice)


def _alerts_screen(t: Translator, rows: list[restock.WatchRow]) -> tuple[str, InlineKeyboardMarkup]:
    if not rows:
        return t("buyer.restock.none"), restock_kb.alerts(t, rows)
    lines = [t("buyer.restock.list")]
    for row in rows:
        key = "buyer.restock.item" if row.active else "buyer.restock.item_off_sale"
        lines.append(t(key, title=row.title))
    return "\n".join(lines), restock_kb.alerts(t, rows)


async def alerts_command(message: Message, session: AsyncSession, t: Translator) -> None:
    assert message.from_user is not None
    async with read(session):
        rows = await restock.watches_of(session, message.from_user.id)
    text, markup = _alerts_screen(t, rows)
    await message.answer(text, reply_markup=markup)


async def alerts_button(
    query: CallbackQuery, session: AsyncSession, bot: Bot, t: Translator
) -> None:
    async with read(session):
        rows = await restock.watches_of(session, query.from_user.id)
    await show(query, bot, *_alerts_screen(t, rows))


async def leave_button(
    query: CallbackQuery,
    *,
    callback_data: LeaveCb,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    async with write(session):
        left = await restock.unwatch(session, query.from_user.id, callback_data.product)
        rows = await restock.watches_of(session, query.from_user.id)
    text, markup = _alerts_screen(t, rows)
    await show(query, bot, text, markup)
    if left:
        tell(callback_answer, t("buyer.restock.left"))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.callback_query.register(watch_button, WatchCb.filter())
    feature.message.register(alerts_command, Command("alerts"), Match(F.from_user))
    feature.callback_query.register(leave_button, LeaveCb.filter())
    feature.callback_query.register(alerts_button, kb.MenuCb.filter(F.action == "alerts"))
    return feature
