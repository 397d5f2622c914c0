"""Rating a purchase: the products of an order to choose from, the stars, and Skip (their
callback data is in :mod:`app.keyboards.buyer`)."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from app.i18n import Translator
from app.keyboards.buyer import PurchasesCb, RateCb, ReviewSaveCb
from app.services.reviews import Rateable


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def stars(t: Translator, order: int, product: int = 0) -> InlineKeyboardMarkup:
    row = [_button("⭐" * n, RateCb(order=order, rating=n, product=product)) for n in range(1, 6)]
    return InlineKeyboardMarkup(
        inline_keyboard=[row[:3], row[3:], [_button(t("buyer.menu.back"), PurchasesCb())]]
    )


def rate_products(t: Translator, order: int, items: Sequence[Rateable]) -> InlineKeyboardMarkup:
    """An order of several products: one button each (✅ once rated), then back."""
    builder = InlineKeyboardBuilder()
    for item in items:
        key = "buyer.reviews.product_rated" if item.reviewed else "buyer.reviews.product"
        builder.row(_button(t(key, title=item.title), RateCb(order=order, product=item.product_id)))
    builder.row(_button(t("buyer.menu.back"), PurchasesCb()))
    return builder.as_markup()


def skip_text(t: Translator, order: int, rating: int, product: int = 0) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    t("buyer.reviews.skip"),
                    ReviewSaveCb(order=order, rating=rating, product=product),
                )
            ]
        ]
    )
