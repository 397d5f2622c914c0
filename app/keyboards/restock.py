"""Buttons of the restock alerts: Notify me / Stop notifying on a sold-out card, the buyer's
list of alerts (/alerts), and the card button of a "back in stock" message."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from app.i18n import Translator
from app.keyboards.buyer import MenuCb, ProductCb
from app.keyboards.fields import PageNumber, RowId
from app.services.restock import WatchRow


class WatchCb(CallbackData, prefix="b-watch"):
    product: RowId
    action: Literal["on", "off"]
    page: PageNumber = 0  # the card's list page, kept for its Back button


class LeaveCb(CallbackData, prefix="b-unwatch"):
    product: RowId  # from the /alerts list, which is shown again


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def watch_row(
    t: Translator, product: int, *, watching: bool, page: int
) -> list[InlineKeyboardButton]:
    if watching:
        stop = WatchCb(product=product, action="off", page=page)
        return [_button(t("buyer.restock.stop"), stop)]
    return [_button(t("buyer.restock.notify"), WatchCb(product=product, action="on", page=page))]


def with_watch(
    t: Translator,
    text: str,
    markup: InlineKeyboardMarkup,
    product: int,
    *,
    watching: bool | None,
    page: int,
) -> tuple[str, InlineKeyboardMarkup]:
    """A product card's text and keyboard; a sold-out one (``watching`` not None) gets the
    watch button on top, and says so when the viewer is on its list."""
    if watching is None:
        return text, markup
    if watching:
        text += "\n\n" + t("buyer.restock.watching")
    rows = [watch_row(t, product, watching=watching, page=page), *markup.inline_keyboard]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def alerts(t: Translator, rows: list[WatchRow]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for row in rows:
        leave = t("buyer.restock.leave", title=row.title)
        builder.row(_button(leave, LeaveCb(product=row.product_id)))
    builder.row(_button(t("buyer.menu.back_to_menu"), MenuCb(action="main")))
    return builder.as_markup()


def back_in_stock(t: Translator, product: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(t("buyer.restock.open"), ProductCb(id=product))]]
    )
