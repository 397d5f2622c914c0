"""What a buyer can take: the stock queries whose cost must not grow with the stock.

An item is claimable when it is available, or reserved by a reservation that already ran out
(a new claim takes it over). Each kind has its own partial index (``ix_stock_items_available``
on ``(product_id, id)``, ``ix_stock_items_reserved`` on ``(product_id, reserved_until)``), and
every query here walks one of them from its start and stops early: a claim after the first
unlocked row, a count after :data:`LEFT_CAP` rows, an existence test after one. Sold items are
in neither index, and live reservations sort after the expired ones, so neither a million sold
keys nor thousands of abandoned invoices lengthen the walk.

The statuses are literals in the SQL, not bind parameters: only then can PostgreSQL's generic
plans (asyncpg prepares every statement) and SQLite's planner prove that a partial index
applies. The caps are literals too, so that generic plans know how far a walk goes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemStatus, StockItem

# "In stock" counts stop here: a card shows "999+ items" rather than count a million rows.
LEFT_CAP = 1000

AVAILABLE: ColumnElement[str] = literal_column(f"'{ItemStatus.AVAILABLE.value}'", String)
RESERVED: ColumnElement[str] = literal_column(f"'{ItemStatus.RESERVED.value}'", String)


def is_available() -> ColumnElement[bool]:
    return StockItem.status == AVAILABLE


def is_expired_reservation(now: Any) -> ColumnElement[bool]:
    return and_(StockItem.status == RESERVED, StockItem.reserved_until < now)


def _limit(cap: int) -> Any:
    return literal_column(str(int(cap)), Integer)


def _capped_count(product: Any, condition: ColumnElement[bool], order: Any, cap: int) -> Any:
    """``count(*)`` of at most ``cap`` items of ``product`` (a column or a bind parameter)."""
    walk = (
        select(literal(1))
        .where(StockItem.product_id == product, condition)
        .order_by(order)  # an ordered index walk: never a bitmap of every matching row
        .limit(_limit(cap))
        .correlate_except(StockItem)  # a product column refers to the enclosing query's row
        .subquery()
    )
    return select(func.count()).select_from(walk).scalar_subquery()


def claimable_left(product: Any, now: Any, cap: int = LEFT_CAP) -> tuple[Any, Any]:
    """Two scalar subqueries: available items and expired reservations, each up to ``cap``.

    Their sum, capped at ``cap`` by :func:`capped`, is exact below the cap.
    """
    return (
        _capped_count(product, is_available(), StockItem.id, cap),
        _capped_count(product, is_expired_reservation(now), StockItem.reserved_until, cap),
    )


def capped(*counts: int, cap: int = LEFT_CAP) -> int:
    return min(cap, sum(int(count) for count in counts))


def in_stock(product: Any, now: Any) -> ColumnElement[bool]:
    """Whether ``product`` has a claimable item: two walks of one row each at most.

    Not ``EXISTS``: PostgreSQL drops the ordering inside one and may then look for the row by
    a sequential scan, which reads past every other product's stock first.
    """
    available, expired = claimable_left(product, now, cap=1)
    found: ColumnElement[bool] = (available + expired) > 0
    return found


ClaimQuery = Select[StockItem]


def claim_queries(
    product: Any, now: Any, limit: int = 1, *, excluding: Any = None
) -> tuple[ClaimQuery, ClaimQuery]:
    """Lock ``limit`` items: the first available ones by id, then the longest-expired
    reservations (the caller asks the second only for what the first did not give).

    ``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL: concurrent claims skip each other's rows,
    but never the rows the claiming transaction locked itself: ``excluding`` (an expanding bind
    parameter of item ids) leaves out the expired reservations of the caller's own order.
    The limit is a literal, as the caps are: a generic plan knows how far the walk goes.
    """

    def first(condition: ColumnElement[bool], order: Any) -> ClaimQuery:
        return (
            select(StockItem)
            .where(StockItem.product_id == product, condition)
            .order_by(order)
            .limit(_limit(limit))
            .with_for_update(skip_locked=True, key_share=True)
            .execution_options(populate_existing=True)
        )

    expired = is_expired_reservation(now)
    if excluding is not None:
        expired = and_(expired, StockItem.id.not_in(excluding))
    return (
        first(is_available(), StockItem.id),
        first(expired, StockItem.reserved_until),
    )


def unsold_counts(product: Any, cap: int = LEFT_CAP) -> tuple[Any, Any]:
    """Two scalar subqueries: ``product``'s available items and its reserved ones (live or
    run out), each counted up to ``cap`` (the owner's /stats reads them per product)."""
    return (
        _capped_count(product, StockItem.status == AVAILABLE, StockItem.id, cap),
        _capped_count(product, StockItem.status == RESERVED, StockItem.reserved_until, cap),
    )


@cache
def _unsold_query(cap: int) -> Select[Any]:
    return select(*unsold_counts(bindparam("product"), cap))


async def unsold_at_most(session: AsyncSession, product_id: int, cap: int) -> int:
    """Items of the product not sold yet (available or reserved), counted up to ``cap``.

    Exact below ``cap``: enough to tell whether the stock fell under a low-stock threshold.
    """
    row = (await session.execute(_unsold_query(cap), {"product": product_id})).one()
    return capped(*row, cap=cap)
