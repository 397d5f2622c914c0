"""Inline keyboards of the owner tools, and their callback data (every field bounded, as in
:mod:`app.keyboards.fields`: a forged press is a stale button)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, get_args

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from app.i18n import Translator
from app.keyboards.fields import MAX_PAGE, PageNumber, RowId
from app.services.paging import Page
from app.services.products import OwnerProductRow

MAX_PRODUCT_BUTTONS = 60


MenuAction = Literal["add_category", "add_product", "products", "stats", "broadcast"]
EditField = Literal["title", "description", "price", "category", "active", "stock"]
MENU_ACTIONS: tuple[MenuAction, ...] = get_args(MenuAction)


class AdminMenu(CallbackData, prefix="adm"):
    action: MenuAction


class ProductOpen(CallbackData, prefix="admp"):
    product_id: RowId


class ProductEdit(CallbackData, prefix="adme"):
    product_id: RowId
    field: EditField


class PromoPage(CallbackData, prefix="admpr"):
    """A page of /promo list (zero-based); ``rewards``: the referral rewards are listed too."""

    LAST: ClassVar[int] = MAX_PAGE + 1  # the last page /promo list N accepts (one-based)

    page: PageNumber
    rewards: bool = False


def menu_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in MENU_ACTIONS:
        builder.button(text=t(f"owner.button.{action}"), callback_data=AdminMenu(action=action))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def products_keyboard(rows: Sequence[OwnerProductRow]) -> InlineKeyboardMarkup | None:
    if not rows or len(rows) > MAX_PRODUCT_BUTTONS:
        return None
    builder = InlineKeyboardBuilder()
    for row in rows:
        builder.button(text=row.slug, callback_data=ProductOpen(product_id=row.id))
    builder.adjust(2)
    return builder.as_markup()


def product_keyboard(t: Translator, product_id: int, *, active: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    fields: tuple[EditField, ...] = ("title", "description", "price", "category", "stock")
    for field in fields:
        builder.button(
            text=t(f"owner.button.edit_{field}"),
            callback_data=ProductEdit(product_id=product_id, field=field),
        )
    builder.button(
        text=t("owner.button.deactivate" if active else "owner.button.activate"),
        callback_data=ProductEdit(product_id=product_id, field="active"),
    )
    builder.adjust(2, 2, 1, 1)
    return builder.as_markup()


def promo_pager(t: Translator, page: Page[Any], *, rewards: bool) -> InlineKeyboardMarkup | None:
    """Previous and Next under a page of /promo list (none when it is the only page)."""
    builder = InlineKeyboardBuilder()
    if page.has_prev:
        builder.button(
            text=t("buyer.pager.prev"), callback_data=PromoPage(page=page.page - 1, rewards=rewards)
        )
    if page.has_next:
        builder.button(
            text=t("buyer.pager.next"), callback_data=PromoPage(page=page.page + 1, rewards=rewards)
        )
    return builder.as_markup() if page.pages > 1 else None
