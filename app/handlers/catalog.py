"""The catalog: categories, then a category's products (paged), then one product's card."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import read
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.keyboards import restock as restock_kb
from app.services import catalog, restock
from app.services.availability import LEFT_CAP
from app.services.catalog import OTHER, CategoryRow, ProductCard
from app.services.paging import Page, paginate

CARD_DESCRIPTION_CUT = 3000  # a longer description is cut on the card (Telegram: 4096 characters)


def _page_line(t: Translator, page: Page[Any]) -> str:
    if page.pages <= 1:
        return ""
    return "\n\n" + t("buyer.pager.page", page=page.page + 1, pages=page.pages)


def _left_line(t: Translator, left: int) -> str:
    """The stock line of a card; at the cap, "999+ items" (see app.services.availability)."""
    if not left:
        return ""
    if left >= LEFT_CAP:
        return t("buyer.catalog.card_left_over", n=LEFT_CAP - 1)
    return t("buyer.catalog.card_left", n=left)


def card_text(t: Translator, card: ProductCard) -> str:
    parts = [t("buyer.catalog.card_title", title=card.title)]
    if description := card.description.strip():
        if len(description) > CARD_DESCRIPTION_CUT:
            description = description[:CARD_DESCRIPTION_CUT] + "…"
        parts.append(t("buyer.catalog.card_description", description=description))
    price = t("buyer.catalog.card_price", price=card.price)
    stock = _left_line(t, card.left)
    rating = (
        t("buyer.reviews.card", n=card.rating_count, average=f"{card.rating:.1f}")
        if card.rating is not None
        else ""
    )
    parts.append("\n".join(filter(None, [price, stock, rating])))
    if card.held_by_viewer:
        parts.append(t("buyer.catalog.card_reserved"))
    elif not card.left:
        parts.append(t("buyer.catalog.card_sold_out"))
    return "\n\n".join(parts)


async def _categories_screen(
    session: AsyncSession, t: Translator, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    rows = await catalog.categories(session)
    if not rows:
        return t("buyer.catalog.empty"), kb.back_to_menu(t)
    if len(rows) == 1 and rows[0].id == OTHER:  # no categories: one flat list
        return await _products_screen(session, t, OTHER, page, flat=True)
    listing: Page[CategoryRow] = paginate(rows, page, catalog.PAGE_SIZE)
    text = t("buyer.catalog.categories") + _page_line(t, listing)
    return text, kb.categories(t, listing)


async def _products_screen(
    session: AsyncSession, t: Translator, category: int, page: int, *, flat: bool
) -> tuple[str, InlineKeyboardMarkup]:
    listing = await catalog.products_page(session, category, page)
    if flat:
        title = t("buyer.catalog.all_products")
    else:
        title = await catalog.category_title(session, category) or t("buyer.catalog.other")
    text = t("buyer.catalog.products", category=title)
    if not listing.items:
        text += "\n\n" + t("buyer.catalog.empty_category")
    markup = kb.products(t, listing, category, back_to_categories=not flat)
    return text + _page_line(t, listing), markup


async def _is_flat(session: AsyncSession) -> bool:
    rows = await catalog.categories(session)
    return all(row.id == OTHER for row in rows)


async def catalog_command(message: Message, session: AsyncSession, t: Translator) -> None:
    async with read(session, autocommit=True):
        text, markup = await _categories_screen(session, t, 0)
    await message.answer(text, reply_markup=markup)


async def catalog_menu(
    query: CallbackQuery, session: AsyncSession, bot: Bot, t: Translator
) -> None:
    async with read(session, autocommit=True):
        text, markup = await _categories_screen(session, t, 0)
    await show(query, bot, text, markup)


async def categories_page(
    query: CallbackQuery,
    callback_data: kb.CategoriesCb,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
) -> None:
    async with read(session, autocommit=True):
        text, markup = await _categories_screen(session, t, callback_data.page)
    await show(query, bot, text, markup)


async def products_page(
    query: CallbackQuery,
    callback_data: kb.ProductsCb,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
) -> None:
    async with read(session, autocommit=True):
        flat = callback_data.category == OTHER and await _is_flat(session)
        text, markup = await _products_screen(
            session, t, callback_data.category, callback_data.page, flat=flat
        )
    await show(query, bot, text, markup)


async def product(
    query: CallbackQuery,
    *,
    callback_data: kb.ProductCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    async with read(session, autocommit=True):
        card = await catalog.product_card(session, callback_data.id, query.from_user.id)
        watching = await restock.card_watch(session, card, query.from_user.id)
    if card is None:
        tell(callback_answer, t("buyer.catalog.gone"), alert=True)
        return
    top = max(1, min(settings.max_quantity, card.left))  # the quantity a buyer may choose
    page = callback_data.page
    markup = kb.product_card(t, card, page, max_qty=top)
    text, markup = restock_kb.with_watch(
        t, card_text(t, card), markup, card.id, watching=watching, page=page
    )
    await show(query, bot, text, markup)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(catalog_command, Command("catalog"))
    feature.callback_query.register(catalog_menu, kb.MenuCb.filter(F.action == "catalog"))
    feature.callback_query.register(categories_page, kb.CategoriesCb.filter())
    feature.callback_query.register(products_page, kb.ProductsCb.filter())
    feature.callback_query.register(product, kb.ProductCb.filter())
    return feature
