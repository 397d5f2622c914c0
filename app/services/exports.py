"""Exports for the owner: the orders as CSV, and a product's unsold stock as a text file.

The orders' CSV is a row per order (its amount is what was charged), its ``items`` cell every
line of the order, the title then the multiplication sign and the quantity, lines joined by
"; ", and ``units`` their sum. It has no delivered content: it reads no column of
``stock_items``. The stock file is the only place an export carries keys; the caller logs who
asked for it (never the content). Both read in pages by primary key, so a long history is a
series of short queries and a page never holds more than :data:`PAGE` rows (the lines of a
page of orders are one more query). Like every service these only read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemKind, ItemStatus, Order, Product, StockItem, User
from app.services import order_items

PAGE = 1000
ORDER_COLUMNS = (
    "order_id",
    "created_at",
    "status",
    "user_id",
    "username",
    "items",
    "units",
    "amount",
    "currency",
    "paid_at",
    "delivered_at",
    "refunded_at",
    "telegram_payment_charge_id",
)
UNSOLD = (ItemStatus.AVAILABLE.value, ItemStatus.RESERVED.value)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


async def orders_csv(session: AsyncSession) -> tuple[bytes, int]:
    """Every order as a CSV row (UTF-8 with a BOM, for spreadsheets); returns it and the count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ORDER_COLUMNS)
    stmt = (
        select(
            Order.id,
            Order.created_at,
            Order.status,
            Order.user_id,
            User.username,
            Product.title,  # an order of the release before order lines: one unit of it
            Order.amount,
            Order.currency,
            Order.paid_at,
            Order.delivered_at,
            Order.refunded_at,
            Order.telegram_payment_charge_id,
        )
        .join(Product, Product.id == Order.product_id)
        .outerjoin(User, User.id == Order.user_id)
        .order_by(Order.id)
        .limit(PAGE)
    )
    after, count = 0, 0
    while True:
        rows = (await session.execute(stmt.where(Order.id > after))).all()
        lines = await order_items.items_of(session, [row[0] for row in rows])
        for row in rows:
            items = lines.get(row[0]) or [(row[5], 1)]
            cells = [
                *row[:5],
                "; ".join(f"{title} ×{quantity}" for title, quantity in items),
                sum(quantity for _, quantity in items),
                *row[6:],
            ]
            writer.writerow([_cell(value) for value in cells])
        count += len(rows)
        if len(rows) < PAGE:
            break
        after = rows[-1][0]
    return buffer.getvalue().encode("utf-8-sig"), count


@dataclass(frozen=True)
class StockExport:
    content: bytes  # the unsold text items, one per line
    items: int
    files: int  # unsold items that are Telegram files, not in the text


async def unsold_stock(session: AsyncSession, product_id: int) -> StockExport:
    """The product's unsold items (available or reserved), as the stock import reads them."""
    lines: list[str] = []
    stmt = (
        select(StockItem.id, StockItem.content)
        .where(
            StockItem.product_id == product_id,
            StockItem.status.in_(UNSOLD),
            StockItem.kind == ItemKind.TEXT.value,
        )
        .order_by(StockItem.id)
        .limit(PAGE)
    )
    after = 0
    while True:
        rows = (await session.execute(stmt.where(StockItem.id > after))).all()
        lines.extend(content for _, content in rows)
        if len(rows) < PAGE:
            break
        after = rows[-1][0]
    files = await session.scalar(
        select(func.count(StockItem.id)).where(
            StockItem.product_id == product_id,
            StockItem.status.in_(UNSOLD),
            StockItem.kind == ItemKind.FILE.value,
        )
    )
    content = "".join(f"{line}\n" for line in lines).encode()
    return StockExport(content, len(lines), int(files or 0))
