"""Exports for the owner: the orders as CSV, and a product's unsold stock as a text file.

The orders' CSV is a row per order (its amount is what was charged), its ``items`` cell every
line of the order, the title then the multiplication sign and the quantity, lines joined by
"; ", and ``units`` their sum. It has no delivered content: it reads no column of
``stock_items``. The orders are read a page at a time (:func:`orders_page`, by creation time
through ``ix_orders_created_at_id``, optionally from one UTC day to another) and written as
they come into files of a bounded size (:class:`CsvParts`), so neither memory nor an upload
grows with the shop's history. The stock file is the only place an export carries keys; the
caller logs who asked for it (never the content); it is read in pages by primary key. A page
never holds more than :data:`PAGE` rows (the lines of a page of orders are one more query).
Like every service these only read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemKind, ItemStatus, Order, Product, StockItem, User
from app.services import order_items
from app.services.products import ShopInputError

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


@dataclass(frozen=True)
class OrderSpan:
    """The orders made from ``since`` (inclusive) until before ``until``; None: unbounded."""

    since: datetime | None = None
    until: datetime | None = None


def _day(option: str, raw: str) -> datetime:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or len(raw) != len("2026-12-31") or day >= date.max:
        raise ShopInputError("export_bad_date", option=option, value=raw[:20])
    return datetime.combine(day, time(0), tzinfo=UTC)


def parse_span(words: Sequence[str]) -> OrderSpan:
    """``[since=YYYY-MM-DD] [until=YYYY-MM-DD]``: UTC days, ``until`` the last one included."""
    days: dict[str, datetime] = {}
    for word in words:
        name, sep, raw = word.partition("=")
        name = name.strip().lower()
        if not sep or name not in {"since", "until"} or name in days:
            raise ShopInputError("export_bad_option", option=word[:40])
        days[name] = _day(name, raw.strip())
    since, last = days.get("since"), days.get("until")
    if since is not None and last is not None and last < since:
        raise ShopInputError("export_bad_span")
    return OrderSpan(since, None if last is None else last + timedelta(days=1))


_ORDER_ROW = (
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
    .order_by(Order.created_at, Order.id)  # ix_orders_created_at_id
    .limit(PAGE)
)
OrderKey = tuple[datetime, int]  # (created_at, id): where the next page starts


async def orders_page(
    session: AsyncSession, span: OrderSpan, after: OrderKey | None = None
) -> tuple[list[list[str]], OrderKey | None]:
    """Up to :data:`PAGE` orders of ``span`` after ``after``, as CSV cells, oldest first, and
    the key of the last (None when there were none)."""
    stmt = _ORDER_ROW
    if span.since is not None:
        stmt = stmt.where(Order.created_at >= span.since)
    if span.until is not None:
        stmt = stmt.where(Order.created_at < span.until)
    if after is not None:
        stmt = stmt.where(tuple_(Order.created_at, Order.id) > tuple_(*after))
    rows = (await session.execute(stmt)).all()
    lines = await order_items.items_of(session, [row[0] for row in rows])
    cells = []
    for row in rows:
        items = lines.get(row[0]) or [(row[5], 1)]
        values = [
            *row[:5],
            "; ".join(f"{title} ×{quantity}" for title, quantity in items),
            sum(quantity for _, quantity in items),
            *row[6:],
        ]
        cells.append([_cell(value) for value in values])
    return cells, ((rows[-1][1], rows[-1][0]) if rows else None)


class CsvParts:
    """CSV files of at most ``limit`` bytes each, written as rows come: every part is a whole
    CSV (UTF-8 with a BOM, for spreadsheets, then the header), numbered in order. Nothing is
    held in memory but the row being written."""

    def __init__(self, folder: Path, stem: str, header: Sequence[str], limit: int) -> None:
        self.folder, self.stem, self.limit = folder, stem, limit
        self.head = "\ufeff".encode() + self._encode(header)
        self.paths: list[Path] = []
        self._file: BinaryIO | None = None
        self._size = 0

    @staticmethod
    def _encode(cells: Sequence[str]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        return buffer.getvalue().encode()

    def _next_part(self) -> BinaryIO:
        if self._file is not None:
            self._file.close()
        path = self.folder / f"{self.stem}-{len(self.paths) + 1}.csv"
        self.paths.append(path)
        self._file = path.open("wb")
        self._file.write(self.head)
        self._size = len(self.head)
        return self._file

    def write(self, rows: Iterable[Sequence[str]]) -> None:
        for cells in rows:
            line = self._encode(cells)
            part = self._file
            full = self._size + len(line) > self.limit and self._size > len(self.head)
            if part is None or full:  # a row too long for any part still gets one of its own
                part = self._next_part()
            part.write(line)
            self._size += len(line)

    def close(self) -> list[Path]:
        """The parts, in order (one, with the header only, when no row came)."""
        if self._file is None:
            self._next_part()
        assert self._file is not None
        self._file.close()
        return self.paths


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
