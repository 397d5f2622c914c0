"""An order's units: finding the ones it holds, claiming more, holding and putting them back.

Every unit of an order is a stock item whose ``order_id`` is the order, reserved until the
order's ``expires_at`` or sold to it (an order of the release before order lines has one unit,
``orders.stock_item_id``, whose ``order_id`` is unset). These are the primitives
:mod:`app.services.reservations`, :mod:`app.services.pre_checkout` and
:mod:`app.services.fulfilment` (a payment's settlement) build on; the claims' SQL is
:mod:`app.services.availability`'s.

Claims take items with ``FOR NO KEY UPDATE SKIP LOCKED ... LIMIT n`` on PostgreSQL, so
concurrent buyers never wait on each other and never get the same item. SKIP LOCKED never
skips a row the claiming transaction locked itself: a claim for an order whose own units are
locked already excludes them by id. Nothing here commits: the caller holds the write
transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import structlog
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemStatus, Order, OrderStatus, StockItem
from app.services.availability import ClaimQuery, claim_queries
from app.services.catalog import NOW

log = structlog.get_logger(__name__)

_HELD_UNITS = (
    select(StockItem)
    .where(
        or_(
            StockItem.order_id.in_(bindparam("orders", expanding=True)),
            StockItem.id.in_(bindparam("items", expanding=True)),
        )
    )
    .order_by(StockItem.id)
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


@cache
def _claims(limit: int, *, excluding: bool = False) -> tuple[ClaimQuery, ClaimQuery]:
    exclude: Any = bindparam("exclude", expanding=True) if excluding else None
    return claim_queries(bindparam("product"), NOW, limit, excluding=exclude)


def _owned_by(item: StockItem, order_id: int, first_unit: int | None) -> bool:
    """The item is this order's: its order_id says so, or (an order of the release before
    order lines) it is the order's one unit and no order claims it by order_id."""
    if item.order_id is not None:
        return item.order_id == order_id
    return item.id == first_unit


async def held_units(
    session: AsyncSession, held: Sequence[tuple[int, int | None]]
) -> dict[int, list[StockItem]]:
    """Lock the units the orders ``(order id, stock_item_id)`` hold, reserved or sold."""
    found: dict[int, list[StockItem]] = {order_id: [] for order_id, _ in held}
    if not held:
        return found
    params = {
        "orders": [order_id for order_id, _ in held],
        "items": [item for _, item in held if item is not None] or [0],
    }
    for item in await session.scalars(_HELD_UNITS, params):
        for order_id, first_unit in held:
            if _owned_by(item, order_id, first_unit) and item.status != ItemStatus.AVAILABLE:
                found[order_id].append(item)
    return found


async def own_units(
    session: AsyncSession, order: Order, units: Sequence[StockItem]
) -> list[StockItem]:
    """Of the units :func:`held_units` found for ``order`` (locked, the order locked after
    them), those still its own: sold to it once it is paid, or reserved until exactly its
    ``expires_at`` (a hold and a pre-checkout always write both together).

    A replica of the release before order lines takes a lapsed unit over without clearing its
    ``order_id``: such a unit (reserved until the other order's time, or sold to it) is the
    other order's. Its ``order_id`` is cleared here, so neither this order's payment, nor its
    delivery, nor a refund counts it as this order's.
    """
    paid = order.telegram_payment_charge_id is not None
    mine: list[StockItem] = []
    foreign: list[int] = []
    for item in units:
        if (
            item.order_id != order.id
            or (item.status == ItemStatus.SOLD and paid)
            or (item.status == ItemStatus.RESERVED and item.reserved_until == order.expires_at)
        ):  # an order of the release before order lines
            mine.append(item)
        else:
            foreign.append(item.id)
    if foreign:
        await session.execute(
            update(StockItem)
            .where(StockItem.id.in_(foreign), StockItem.order_id == order.id)
            .values(order_id=None)
            .execution_options(synchronize_session=False)
        )
        for item in units:
            if item.id in foreign:
                item.order_id = None
        log.warning("units taken over by another order", order_id=order.id, stock_item_ids=foreign)
    return mine


async def claim_units(
    session: AsyncSession,
    product_id: int,
    count: int,
    now: datetime,
    *,
    for_order: int | None,
    excluding: Sequence[StockItem] = (),
) -> list[StockItem]:
    """Lock up to ``count`` claimable items of the product (skipping items others hold locked,
    and the items ``excluding``: the units ``for_order`` holds already, locked by the caller).

    Available items go first; expired reservations are taken over only when those run out.
    A reservation taken over ends: its order becomes ``expired``, so a late payment for it
    knows it must claim again.
    """
    if count <= 0:
        return []
    params = {"product": product_id, "now": now}
    available, _ = _claims(count)
    items = list(await session.scalars(available, params))
    if len(items) < count:
        _, expired = _claims(count - len(items), excluding=bool(excluding))
        if excluding:
            params["exclude"] = [item.id for item in excluding]
        taken = list(await session.scalars(expired, params))
        if taken:
            await _expire_stale(session, taken, for_order)
            items += taken
    return items


async def _expire_stale(
    session: AsyncSession, taken: list[StockItem], for_order: int | None
) -> None:
    holders = [item.order_id for item in taken if item.order_id is not None]
    stale = update(Order).where(
        Order.status == OrderStatus.PENDING.value,
        or_(Order.id.in_(holders or [0]), Order.stock_item_id.in_([item.id for item in taken])),
    )
    if for_order is not None:
        stale = stale.where(Order.id != for_order)
    await session.execute(
        stale.values(status=OrderStatus.EXPIRED.value).execution_options(synchronize_session=False)
    )
    log.info(
        "expired reservations taken over",
        stock_item_ids=[item.id for item in taken],
        product_id=taken[0].product_id,
    )


async def hold(
    session: AsyncSession, order: Order, items: Sequence[StockItem], until: datetime
) -> None:
    """Make ``items`` the order's reserved units until ``until``."""
    if not items:
        return
    await session.execute(
        update(StockItem)
        .where(StockItem.id.in_([item.id for item in items]))
        .values(status=ItemStatus.RESERVED.value, reserved_until=until, order_id=order.id)
        .execution_options(synchronize_session=False)
    )


async def put_back(session: AsyncSession, items: Sequence[StockItem]) -> None:
    """Back on sale (the caller holds their locks)."""
    ids = [item.id for item in items if item.status != ItemStatus.SOLD]
    if not ids:
        return
    await session.execute(
        update(StockItem)
        .where(StockItem.id.in_(ids))
        .values(status=ItemStatus.AVAILABLE.value, reserved_until=None, order_id=None)
        .execution_options(synchronize_session=False)
    )


async def claim_again(
    session: AsyncSession,
    order_id: int,
    wanted: Sequence[tuple[int, int]],
    units: Sequence[StockItem],
    now: datetime,
) -> list[StockItem]:
    """A late payment's units: every unit of every ``(product id, quantity)`` line, keeping
    those the order still holds (``units``, locked); [] (and everything put back) if any line
    cannot be filled in full."""
    kept = [item for item in units if item.status == ItemStatus.RESERVED]
    taken: list[StockItem] = []
    for product_id, quantity in wanted:
        mine = [item for item in kept if item.product_id == product_id][:quantity]
        more = await claim_units(  # never the order's own lapsed units again: locked already
            session, product_id, quantity - len(mine), now, for_order=order_id, excluding=units
        )
        taken += mine + more
        if len(mine) + len(more) < quantity:
            await put_back(session, kept + taken)
            log.info("late payment cannot be filled", order_id=order_id, product_id=product_id)
            return []
    await put_back(session, [item for item in kept if item not in taken])
    return taken


class UnitsMismatchError(RuntimeError):
    """A settlement about to sell other units than the order's lines ask for (a bug): it fails,
    and the payment stays recorded and unsettled, rather than deliver short or twice."""


def check_units(
    order_id: int, wanted: Sequence[tuple[int, int]], units: Sequence[StockItem]
) -> None:
    """Raise :class:`UnitsMismatchError` unless ``units`` are distinct items, exactly the
    quantity of each ``(product id, quantity)`` line."""
    distinct = {item.id: item for item in units}
    asked = Counter(dict(wanted))
    if len(distinct) != len(units) or Counter(i.product_id for i in distinct.values()) != asked:
        raise UnitsMismatchError(
            f"order {order_id}: {len(distinct)} distinct units of {len(units)} to sell, "
            f"{asked.total()} ordered"
        )
