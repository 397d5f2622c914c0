"""Exports for the owner: the orders as CSV, and a product's unsold stock as a text file.

The orders' CSV has no delivered content: it reads no column of ``stock_items``. The stock
file is the only place an export carries keys; the caller logs who asked for it (never the
content). Both read in pages by primary key, so a long history is a series of short queries
and a page never holds more than :data:`PAGE` rows. Like every service these only read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemKind, ItemStatus, Order, Product, StockItem, User

PAGE = 1000
ORDER_COLUMNS = (
    "order_id",
    "created_at",
    "status",
    "user_id",
    "username",
    "product_slug",
    "product_title",
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
            Product.slug,
            Product.title,
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
        for row in rows:
            writer.writerow([_cell(value) for value in row])
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
