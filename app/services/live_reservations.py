"""A buyer's live reservations: the pending orders whose units are still held for them.

A new reservation reads them first (:mod:`app.services.reservations`): one of exactly the
lines asked for is given back, any other that shares a product ends and gives its units to the
new one, and the rest count towards the buyer's cap of unpaid units. One query reads them with
their lines (at most the cap's worth of orders). Nothing here commits: the caller holds the
write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Order, OrderLine, OrderStatus, StockItem
from app.services.catalog import NOW, PENDING
from app.services.holds import put_back
from app.services.orders import Line, from_cart, lock_order

# Built once with bind parameters (see app.services.catalog): a call only binds values.
_LIVE = (
    select(
        Order.id,
        Order.product_id,
        Order.amount,
        Order.stock_item_id,
        Order.payload,
        OrderLine.product_id,
        OrderLine.quantity,
        OrderLine.unit_price,
    )
    .outerjoin(OrderLine, OrderLine.order_id == Order.id)
    .where(Order.user_id == bindparam("user"), Order.status == PENDING, Order.expires_at > NOW)
    .order_by(Order.id)
)


@dataclass
class Live:
    """A live reservation: its order, total, first unit, whether it is the cart's, its lines."""

    order_id: int
    amount: int
    first_unit: int | None
    cart: bool
    lines: list[Line]

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def products(self) -> set[int]:
        return {line.product_id for line in self.lines}

    def same_lines(self, wanted: Sequence[Line]) -> bool:
        """It holds exactly ``wanted``: the same products, quantities and unit prices."""
        key = sorted((line.product_id, line.quantity, line.unit_price) for line in self.lines)
        return key == sorted((line.product_id, line.quantity, line.unit_price) for line in wanted)


async def live_orders(session: AsyncSession, user_id: int, now: datetime) -> list[Live]:
    """The buyer's pending orders that have not expired by ``now``, oldest first."""
    live: dict[int, Live] = {}
    rows = await session.execute(_LIVE, {"user": user_id, "now": now})
    for order_id, product_id, amount, first_unit, payload, line_product, quantity, price in rows:
        entry = live.setdefault(
            order_id, Live(order_id, amount, first_unit, from_cart(payload), [])
        )
        if line_product is None:  # an order of the release before order lines
            entry.lines.append(Line(product_id, 1, amount))
        else:
            entry.lines.append(Line(line_product, quantity, price))
    return list(live.values())


async def end_reservations(
    session: AsyncSession, orders: Sequence[int], units: Sequence[StockItem]
) -> None:
    """Expire pending orders; ``units`` (theirs, locked) go back on sale."""
    await put_back(session, units)
    for order_id in orders:
        order = await lock_order(session, order_id)
        if order.status == OrderStatus.PENDING and order.telegram_payment_charge_id is None:
            order.status = OrderStatus.EXPIRED.value
