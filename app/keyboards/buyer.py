"""Inline keyboards of the buyer side and their callback data.

Every prefix starts with ``b-`` so that the owner tools can never collide with them. Every
field is bounded (:mod:`app.keyboards.fields`): a forged press is a stale button. A keyboard
is a plain list of rows: aiogram's ``InlineKeyboardBuilder`` deep-copies every button when it
exports the markup, a cost each buyer screen would pay.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from app.db.models import OrderStatus
from app.i18n import Translator
from app.keyboards.fields import MAX_ROW_ID, CategoryRef, PageNumber, RowId
from app.services.cart import CartView
from app.services.catalog import CategoryRow, ProductCard, ProductListing
from app.services.delivery import Purchase
from app.services.paging import Page

MAX_QUANTITY = 100  # the setting's own bound (app.config): a forged quantity fails to unpack
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
ProductRef = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]  # 0: none chosen


class MenuCb(CallbackData, prefix="b-menu"):
    action: Literal["main", "catalog", "search", "purchases", "referrals", "alerts", "help"]


class CategoriesCb(CallbackData, prefix="b-cats"):
    page: PageNumber = 0


class ProductsCb(CallbackData, prefix="b-prods"):
    category: CategoryRef  # OTHER (0) for products without a category
    page: PageNumber = 0


class ProductCb(CallbackData, prefix="b-prod"):
    id: RowId
    page: PageNumber = 0  # the list page to go back to


class SearchCb(CallbackData, prefix="b-find"):
    page: PageNumber = 0  # the words are kept in the buyer's FSM data


class RateCb(CallbackData, prefix="b-rate"):
    order: RowId
    rating: Annotated[int, Field(ge=0, le=5)] = 0  # 0: show the stars to choose from
    product: ProductRef = 0  # 0: the order's only product, or (several) the chooser


class ReviewSaveCb(CallbackData, prefix="b-rsave"):
    order: RowId
    rating: Annotated[int, Field(ge=1, le=5)]
    product: ProductRef = 0


class ReviewsCb(CallbackData, prefix="b-revs"):
    product: RowId
    page: PageNumber = 0


class BuyCb(CallbackData, prefix="b-buy"):
    product: RowId  # one unit: the card's Buy as it always was


class BuyQtyCb(CallbackData, prefix="b-buyn"):
    product: RowId
    qty: Quantity


class QtyCb(CallbackData, prefix="b-qty"):
    """The card again with another quantity chosen."""

    product: RowId
    qty: Quantity
    page: PageNumber = 0


class CartAddCb(CallbackData, prefix="b-cadd"):
    product: RowId
    qty: Quantity


class CartCb(CallbackData, prefix="b-cart"):
    action: Literal["view", "pay", "clear"]


class CartLineCb(CallbackData, prefix="b-cline"):
    product: RowId
    qty: Annotated[int, Field(ge=0, le=MAX_QUANTITY)]  # 0 removes the line


class PromoCb(CallbackData, prefix="b-promo"):
    """🎟 Promo code on a card: reserve ``qty`` units with a code the buyer types next."""

    product: RowId
    qty: Quantity = 1


class PromoCartCb(CallbackData, prefix="b-promoc"):
    """🎟 Promo code on the cart: reserve the whole cart with a code the buyer types next."""

    what: Literal["cart"] = "cart"


class PurchasesCb(CallbackData, prefix="b-my"):
    page: PageNumber = 0


class ResendCb(CallbackData, prefix="b-resend"):
    order: RowId
    page: PageNumber = 0


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _pager(
    t: Translator, page: Page[Any], make: type[CallbackData], **fixed: int
) -> list[InlineKeyboardButton]:
    row = []
    if page.has_prev:
        row.append(_button(t("buyer.pager.prev"), make(page=page.page - 1, **fixed)))
    if page.has_next:
        row.append(_button(t("buyer.pager.next"), make(page=page.page + 1, **fixed)))
    return row


def main_menu(t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("buyer.menu.catalog"), MenuCb(action="catalog"))],
            [_button(t("buyer.menu.search"), MenuCb(action="search"))],
            [_button(t("buyer.menu.cart"), CartCb(action="view"))],
            [_button(t("buyer.menu.purchases"), MenuCb(action="purchases"))],
            [
                _button(t("buyer.menu.referrals"), MenuCb(action="referrals")),
                _button(t("buyer.menu.alerts"), MenuCb(action="alerts")),
            ],
            [_button(t("buyer.menu.help"), MenuCb(action="help"))],
        ]
    )


def back_to_menu(t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))]]
    )


def categories(t: Translator, page: Page[CategoryRow]) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for row in page.items:
        title = row.title if row.title is not None else t("buyer.catalog.other")
        text = t("buyer.catalog.category_button", title=title, count=row.products)
        rows.append([_button(text, ProductsCb(category=row.id))])
    if pager := _pager(t, page, CategoriesCb):
        rows.append(pager)
    rows.append([_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def products(
    t: Translator, page: Page[ProductListing], category: int, *, back_to_categories: bool
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for row in page.items:
        key = "buyer.catalog.product_button" if row.in_stock else "buyer.catalog.product_sold_out"
        text = t(key, title=row.title, price=row.price)
        rows.append([_button(text, ProductCb(id=row.id, page=page.page))])
    if pager := _pager(t, page, ProductsCb, category=category):
        rows.append(pager)
    if back_to_categories:
        rows.append([_button(t("buyer.menu.back"), CategoriesCb())])
    rows.append([_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def product_card(
    t: Translator, card: ProductCard, page: int, *, qty: int = 1, max_qty: int = 1
) -> InlineKeyboardMarkup:
    """Buy (and Add to cart) ``qty`` units; minus and plus choose from 1 to ``max_qty``."""
    rows: list[list[InlineKeyboardButton]] = []
    if card.left or card.held_by_viewer:
        qty = max(1, min(qty, max_qty))
        if max_qty > 1:
            minus = QtyCb(product=card.id, qty=max(qty - 1, 1), page=page)
            plus = QtyCb(product=card.id, qty=min(qty + 1, max_qty), page=page)
            rows.append(
                [
                    _button("➖", minus),
                    _button(
                        t("buyer.catalog.quantity", n=qty),
                        QtyCb(product=card.id, qty=qty, page=page),
                    ),
                    _button("➕", plus),
                ]
            )
        if qty == 1:
            rows.append([_button(t("buyer.catalog.buy", price=card.price), BuyCb(product=card.id))])
        else:
            text = t("buyer.catalog.buy_n", n=qty, price=card.price * qty)
            rows.append([_button(text, BuyQtyCb(product=card.id, qty=qty))])
        rows.append(
            [
                _button(t("buyer.catalog.add_to_cart"), CartAddCb(product=card.id, qty=qty)),
                _button(t("buyer.menu.cart"), CartCb(action="view")),
            ]
        )
        rows.append([_button(t("buyer.promo.button"), PromoCb(product=card.id, qty=qty))])
    if card.rating_count:
        text = t("buyer.reviews.button", n=card.rating_count)
        rows.append([_button(text, ReviewsCb(product=card.id))])
    rows.append([_button(t("buyer.menu.back"), ProductsCb(category=card.category_id, page=page))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def purchases(t: Translator, page: Page[Purchase]) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for purchase in page.items:
        if purchase.status in (OrderStatus.PAID, OrderStatus.DELIVERED):
            text = t("buyer.purchases.resend", title=purchase.title, order=purchase.order_id)
            row = [_button(text, ResendCb(order=purchase.order_id, page=page.page))]
            if purchase.status == OrderStatus.DELIVERED:
                rate = t("buyer.reviews.rate", order=purchase.order_id)
                row.append(_button(rate, RateCb(order=purchase.order_id)))
            rows.append([*row])
    if pager := _pager(t, page, PurchasesCb):
        rows.append(pager)
    rows.append([_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def search_results(t: Translator, page: Page[ProductListing]) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for row in page.items:
        key = "buyer.catalog.product_button" if row.in_stock else "buyer.catalog.product_sold_out"
        text = t(key, title=row.title, price=row.price)
        rows.append([_button(text, ProductCb(id=row.id))])
    if pager := _pager(t, page, SearchCb):
        rows.append(pager)
    rows.append([_button(t("buyer.search.again"), MenuCb(action="search"))])
    rows.append([_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def reviews(t: Translator, page: Page[Any], product: int) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if pager := _pager(t, page, ReviewsCb, product=product):
        rows.append(pager)
    rows.append([_button(t("buyer.menu.back"), ProductCb(id=product))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cart(t: Translator, view: CartView, max_quantity: int) -> InlineKeyboardMarkup:
    """Per line: minus, the line (its card), plus, remove; then Pay, Empty, and the menu."""
    rows: list[list[InlineKeyboardButton]] = []
    for item in view.items:
        top = max(1, min(max_quantity, item.left))
        rows.append(
            [
                _button("➖", CartLineCb(product=item.product_id, qty=max(item.quantity - 1, 1))),
                _button(
                    t("buyer.cart.line_button", title=item.title, n=item.quantity),
                    ProductCb(id=item.product_id),
                ),
                _button("➕", CartLineCb(product=item.product_id, qty=min(item.quantity + 1, top))),
                _button("✖", CartLineCb(product=item.product_id, qty=0)),
            ]
        )
    if view.wanted():  # something on sale to pay for
        rows.append([_button(t("buyer.cart.pay", price=view.total), CartCb(action="pay"))])
        rows.append([_button(t("buyer.promo.button"), PromoCartCb())])
    if view.items:
        rows.append([_button(t("buyer.cart.clear"), CartCb(action="clear"))])
    rows.append([_button(t("buyer.menu.back_to_menu"), MenuCb(action="main"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)
