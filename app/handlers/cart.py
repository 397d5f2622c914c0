"""Quantities on the card, and the cart: add, review, change, remove, empty, pay in one invoice."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import uow
from app.db.uow import read
from app.filters.magic import Match
from app.handlers.catalog import card_text
from app.handlers.checkout import (
    ALERT_TITLE_LIMIT,
    Placed,
    clip,
    place,
    summarize,
    tell_placed,
)
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.services import cart, catalog
from app.services.cart import CartFullError, CartView
from app.services.reservations import Reservation, ReserveStatus


def _item_line(t: Translator, item: cart.CartItem) -> str:
    line = t("buyer.cart.line", title=item.title, n=item.quantity, amount=item.amount)
    if not item.on_sale:
        return line + " — " + t("buyer.cart.off_sale")
    if item.left < item.quantity:
        return line + " — " + t("buyer.cart.left", n=item.left)
    return line


def cart_screen(
    t: Translator, settings: Settings, view: CartView, short: Reservation | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    if not view.items:
        return t("buyer.cart.empty"), kb.cart(t, view, settings.max_quantity)
    parts = [t("buyer.cart.title")]
    if short is not None and short.short:
        shortages = [
            t("buyer.checkout.short", n=s.left, title=clip(s.title, ALERT_TITLE_LIMIT))
            for s in short.short
        ]
        parts.append(t("buyer.cart.short") + "\n" + "\n".join(shortages))
    parts.append("\n".join(_item_line(t, item) for item in view.items))
    parts.append(t("buyer.cart.total", price=view.total))
    return "\n\n".join(parts), kb.cart(t, view, settings.max_quantity)


async def _view(session: AsyncSession, user_id: int) -> CartView:
    async with read(session, autocommit=True):
        return await cart.view(session, user_id)


async def cart_command(
    message: Message, session: AsyncSession, settings: Settings, t: Translator
) -> None:
    assert message.from_user is not None
    text, markup = cart_screen(t, settings, await _view(session, message.from_user.id))
    await message.answer(text, reply_markup=markup)


async def cart_view(
    query: CallbackQuery, session: AsyncSession, settings: Settings, bot: Bot, t: Translator
) -> None:
    text, markup = cart_screen(t, settings, await _view(session, query.from_user.id))
    await show(query, bot, text, markup)


async def cart_clear(
    query: CallbackQuery,
    *,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    async with uow.write(session):
        await cart.clear(session, query.from_user.id)
    text, markup = cart_screen(t, settings, CartView(()))
    await show(query, bot, text, markup)
    tell(callback_answer, t("buyer.cart.cleared"))


async def cart_line(
    query: CallbackQuery,
    *,
    callback_data: kb.CartLineCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
) -> None:
    async with uow.write(session):
        await cart.set_quantity(
            session,
            query.from_user.id,
            callback_data.product,
            callback_data.qty,
            settings.max_quantity,
        )
    text, markup = cart_screen(t, settings, await _view(session, query.from_user.id))
    await show(query, bot, text, markup)


def left_out(t: Translator, view: CartView) -> str | None:
    """Which lines paying the cart leaves out (off sale), or None."""
    if not view.off_sale:
        return None
    titles = summarize(
        [item.title for item in view.off_sale],
        ALERT_TITLE_LIMIT,
        lambda n: t("buyer.checkout.invoice_more", n=n),
    )
    key = "buyer.cart.left_out" if view.wanted() else "buyer.cart.all_off_sale"
    return t(key, titles=titles)


async def cart_pay(
    query: CallbackQuery,
    *,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    """One invoice for the lines on sale (the total the cart shows); the answer names the
    lines left out, which stay in the cart."""
    view = await _view(session, query.from_user.id)
    for _ in range(2):  # a product taken off sale since the read: read the cart once more
        if not view.wanted():  # empty, or nothing in it on sale
            text, markup = cart_screen(t, settings, view)
            await show(query, bot, text, markup)
            if (notice := left_out(t, view)) is not None:
                tell(callback_answer, notice, alert=True)
            return
        wanted = view.wanted()
        placed, result = await place(query, session, settings, bot, t, wanted=wanted, cart=True)
        if result.status is not ReserveStatus.UNAVAILABLE:
            break
        view = await _view(session, query.from_user.id)
    if placed is Placed.REFUSED and result.status in (ReserveStatus.SHORT, ReserveStatus.SOLD_OUT):
        text, markup = cart_screen(t, settings, await _view(session, query.from_user.id), result)
        await show(query, bot, text, markup)
        tell(callback_answer, t("buyer.cart.not_reserved"))
        return
    tell_placed(callback_answer, t, settings, placed, result)
    if placed in (Placed.SENT, Placed.RESENT) and (notice := left_out(t, view)) is not None:
        tell(callback_answer, f"{callback_answer.text}\n{notice}"[:200], alert=True)


async def cart_add(
    query: CallbackQuery,
    *,
    callback_data: kb.CartAddCb,
    session: AsyncSession,
    settings: Settings,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        async with uow.write(session):
            quantity = await cart.add(
                session,
                query.from_user,
                callback_data.product,
                min(callback_data.qty, settings.max_quantity),
                settings.max_quantity,
            )
    except CartFullError:
        tell(callback_answer, t("buyer.cart.full", n=cart.MAX_LINES), alert=True)
        return
    if not quantity:
        tell(callback_answer, t("buyer.checkout.sold_out"), alert=True)
        return
    tell(callback_answer, t("buyer.cart.added", n=quantity))


async def choose_quantity(
    query: CallbackQuery,
    *,
    callback_data: kb.QtyCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    async with read(session, autocommit=True):
        card = await catalog.product_card(session, callback_data.product, query.from_user.id)
    if card is None:
        tell(callback_answer, t("buyer.catalog.gone"), alert=True)
        return
    top = max(1, min(settings.max_quantity, card.left))
    markup = kb.product_card(
        t, card, callback_data.page, qty=min(callback_data.qty, top), max_qty=top
    )
    await show(query, bot, card_text(t, card), markup)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(cart_command, Command("cart"), Match(F.from_user))
    feature.callback_query.register(cart_view, kb.CartCb.filter(F.action == "view"))
    feature.callback_query.register(cart_clear, kb.CartCb.filter(F.action == "clear"))
    feature.callback_query.register(cart_line, kb.CartLineCb.filter())
    feature.callback_query.register(cart_pay, kb.CartCb.filter(F.action == "pay"))
    feature.callback_query.register(cart_add, kb.CartAddCb.filter())
    feature.callback_query.register(choose_quantity, kb.QtyCb.filter())
    return feature
