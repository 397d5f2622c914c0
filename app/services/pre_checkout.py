"""Pre-checkout: whether Telegram may take the Stars for an order's invoice.

Telegram asks just before it charges the buyer. "ok" is a promise: the order is the asker's,
still pending, every unit of every line still held by it, its prices, currency, total and promo
code still good, and every hold kept for at least :data:`CHECKOUT_GRACE` more, all in one write
transaction, so no unit can be taken over between this answer and the payment. Locks are
taken in the order :mod:`app.services.reservations` describes (the units, then the order).
Nothing here commits: the caller holds the write transaction. Settling the payment that
follows is :mod:`app.services.fulfilment`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderStatus, Product, User
from app.services import redemptions
from app.services.holds import held_units, hold, own_units
from app.services.orders import Line, fully_held, lock_with_lines

log = structlog.get_logger(__name__)

# A pre-checkout that says "ok" keeps the units for at least this long, so the payment that
# follows within seconds always finds them still reserved.
CHECKOUT_GRACE = timedelta(minutes=2)


class Verdict(enum.StrEnum):
    """The answer to a pre-checkout query; anything but OK names the error text."""

    OK = "ok"
    UNKNOWN = "unknown"
    FOREIGN = "foreign"
    PAID = "paid"
    EXPIRED = "expired"
    SOLD_OUT = "sold_out"
    UNAVAILABLE = "unavailable"
    PRICE_CHANGED = "price_changed"
    AMOUNT_MISMATCH = "amount_mismatch"
    BANNED = "banned"  # read with the order: a ban of a second ago counts
    CURRENCY = "currency"
    PROMO_EXPIRED = "promo_expired"  # the order's promo code expired, was disabled or used up
    PROMO_DISABLED = "promo_disabled"
    PROMO_USED_UP = "promo_used_up"


_PROMO_VERDICTS = {
    "expired": Verdict.PROMO_EXPIRED,
    "disabled": Verdict.PROMO_DISABLED,
    "used_up": Verdict.PROMO_USED_UP,
}


def _order_verdict(order: Order, user_id: int, now: datetime) -> Verdict | None:
    """The checks that need no lock: whose order it is and whether it is still open."""
    if order.user_id != user_id:
        return Verdict.FOREIGN
    if order.status == OrderStatus.EXPIRED:
        return Verdict.EXPIRED
    if order.status != OrderStatus.PENDING or order.telegram_payment_charge_id is not None:
        return Verdict.PAID
    if order.expires_at <= now:
        return Verdict.EXPIRED
    return None


def _price_verdict(
    order: Order, lines: Sequence[Line], products: dict[int, Product], currency: str, total: int
) -> Verdict:
    if any((p := products.get(line.product_id)) is None or not p.is_active for line in lines):
        return Verdict.UNAVAILABLE
    failed = (
        (
            any(products[line.product_id].price != line.unit_price for line in lines),
            Verdict.PRICE_CHANGED,
        ),
        (currency != order.currency, Verdict.CURRENCY),
        (total != order.amount, Verdict.AMOUNT_MISMATCH),
    )
    return next((verdict for is_bad, verdict in failed if is_bad), Verdict.OK)


async def _verdict(
    session: AsyncSession, order: Order, *, user_id: int, currency: str, total: int
) -> Verdict:
    now = utcnow()
    if (early := _order_verdict(order, user_id, now)) is not None:
        return early
    units = (await held_units(session, [(order.id, order.stock_item_id)]))[order.id]
    locked = await lock_with_lines(session, order.id)
    order = locked.order
    if order.status != OrderStatus.PENDING:  # taken over while we waited for the lock
        return Verdict.EXPIRED
    units = await own_units(session, order, units)
    if not fully_held(locked.lines, units):
        return Verdict.SOLD_OUT
    verdict = _price_verdict(order, locked.lines, locked.products, currency, total)
    refused = None
    if verdict is Verdict.OK and order.discount:  # only an order a code discounted holds a use
        refused = await redemptions.recheck(session, order, now)
    if refused is not None:
        return _PROMO_VERDICTS.get(refused.reason, Verdict.PROMO_USED_UP)
    if verdict is Verdict.OK:
        until = max(order.expires_at, now + CHECKOUT_GRACE)
        # Held units are reserved until the order's expiry already (own_units); an order of
        # the release before order lines also gets its unit's order_id here.
        if until != order.expires_at or any(item.order_id != order.id for item in units):
            order.expires_at = until
            await hold(session, order, units, until)
    return verdict


# The order and, in the same round trip, the asker's ban as the database has it now.
_ORDER_AND_BAN = select(
    Order,
    select(User.banned_at).where(User.id == bindparam("user")).scalar_subquery(),
).where(Order.payload == bindparam("payload"))


async def check_pre_checkout(
    session: AsyncSession, *, user_id: int, payload: str, currency: str, total_amount: int
) -> Verdict:
    """Decide whether Telegram may take the payment (the caller holds the write transaction).

    "ok" is a promise: every unit is checked and held for at least :data:`CHECKOUT_GRACE` more
    in one transaction, so none can be taken over between this answer and the payment. A
    banned buyer is refused on the database's word, read with the order.
    """
    row = (await session.execute(_ORDER_AND_BAN, {"payload": payload, "user": user_id})).first()
    order, banned_at = row if row is not None else (None, None)
    verdict = Verdict.UNKNOWN
    if banned_at is not None:
        verdict = Verdict.BANNED
    elif order is not None:
        verdict = await _verdict(
            session, order, user_id=user_id, currency=currency, total=total_amount
        )
    log.info(
        "pre-checkout",
        verdict=verdict.value,
        order_id=order.id if order else None,
        payload=payload,
        amount=total_amount,
        currency=currency,
        buyer_id=user_id,
    )
    return verdict
