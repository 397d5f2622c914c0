"""Inline keyboards of the owner tools, and their callback data."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from app.i18n import Translator
from app.services.products import ProductRow

MAX_PRODUCT_BUTTONS = 60


class AdminMenu(CallbackData, prefix="adm"):
    action: str  # add_category | add_product | products | stats | broadcast


class ProductOpen(CallbackData, prefix="admp"):
    product_id: int


class ProductEdit(CallbackData, prefix="adme"):
    product_id: int
    field: str  # title | description | price | category | active | stock


MENU_ACTIONS = ("add_category", "add_product", "products", "stats", "broadcast")


def menu_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in MENU_ACTIONS:
        builder.button(text=t(f"owner.button.{action}"), callback_data=AdminMenu(action=action))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def products_keyboard(rows: Sequence[ProductRow]) -> InlineKeyboardMarkup | None:
    if not rows or len(rows) > MAX_PRODUCT_BUTTONS:
        return None
    builder = InlineKeyboardBuilder()
    for row in rows:
        builder.button(text=row.slug, callback_data=ProductOpen(product_id=row.id))
    builder.adjust(2)
    return builder.as_markup()


def product_keyboard(t: Translator, product_id: int, *, active: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for field in ("title", "description", "price", "category", "stock"):
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
