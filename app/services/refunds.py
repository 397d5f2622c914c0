"""Refunds owed and made, one per payment in the ledger; Telegram is asked outside of here.

A refund is opened ``due`` (sold out, a payload that matches no order, goods Telegram kept
refusing, or an owner's ``/refund``) and becomes ``refunded`` only once Telegram confirmed it,
or once its ledger shows the refund made elsewhere: the database never says "refunded" for
Stars Telegram kept.

``next_attempt_at`` is the refund's lease and schedule: an automatic refund is due at that
time; NULL waits for an owner. Taking a refund (:func:`take`) moves it a lease ahead, so two
processes never ask Telegram for the same refund at once. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Order,
    OrderStatus,
    PendingPayment,
    Product,
    Refund,
    RefundReason,
    RefundStatus,
    User,
)
from app.services import ledger, order_items, redemptions
from app.services.delivery import backoff

REFUND_LEASE = timedelta(seconds=60)
DUE_SHOWN = 10
# A refund waiting for an owner is alerted by whoever opened it, right away; the worker's
# second chance (the alert lost in a crash) leaves it alone for this long, so the two do not
# both send it.
ALERT_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class RefundTarget:
    """What refundStarPayment needs (the payer and the charge), and what the buyer is told."""

    refund_id: int
    charge_id: str
    user_id: int
    amount: int
    order_id: int | None
    attempts: int
    reason: str  # a RefundReason's value
    title: str
    language: str | None
    alerted: bool = False  # the owners were told about it


_TAKE = (
    update(Refund)
    .where(
        Refund.id == bindparam("refund"),
        Refund.status == RefundStatus.DUE.value,
        or_(Refund.next_attempt_at.is_(None), Refund.next_attempt_at <= bindparam("now")),
    )
    .values(next_attempt_at=bindparam("until"), attempts=Refund.attempts + 1)
    .returning(Refund.id)
    .execution_options(synchronize_session=False)
)
_TARGET = (
    select(
        Refund.id,
        Refund.charge_id,
        Refund.user_id,
        Refund.amount,
        Refund.order_id,
        Refund.attempts,
        Refund.reason,
        User.language_code,
        Refund.alerted_at,
    )
    .outerjoin(User, User.id == Refund.user_id)
    .where(Refund.id == bindparam("refund"))
)
_BY_CHARGE = select(Refund).where(Refund.charge_id == bindparam("charge"))
_DUE = (
    select(Refund.id)
    .where(Refund.status == RefundStatus.DUE.value, Refund.next_attempt_at <= bindparam("now"))
    .order_by(Refund.next_attempt_at)
    .limit(bindparam("limit"))
)
_UNALERTED = (
    select(Refund.id)
    .where(
        Refund.status == RefundStatus.DUE.value,
        Refund.next_attempt_at.is_(None),
        Refund.alerted_at.is_(None),
        Refund.created_at <= bindparam("before"),
    )
    .order_by(Refund.id)
    .limit(bindparam("limit"))
)
_MARK_ALERTED = (
    update(Refund)
    .where(Refund.id == bindparam("refund"), Refund.alerted_at.is_(None))
    .values(alerted_at=bindparam("now"))
    .returning(Refund.id)
    .execution_options(synchronize_session=False)
)


async def by_charge(session: AsyncSession, charge_id: str) -> Refund | None:
    return await session.scalar(_BY_CHARGE, {"charge": charge_id})


async def target(session: AsyncSession, refund_id: int) -> RefundTarget | None:
    row = (await session.execute(_TARGET, {"refund": refund_id})).first()
    if row is None:
        return None
    (id_, charge, user, amount, order_id, attempts, reason, language, alerted) = row
    title = await order_items.label_of(session, order_id) if order_id is not None else ""
    return RefundTarget(
        id_, charge, user, amount, order_id, attempts, reason, title, language, alerted is not None
    )


async def take(
    session: AsyncSession, refund_id: int, now: datetime, *, force: bool = False
) -> RefundTarget | None:
    """Lease a due refund for one request to Telegram; None if it is not due or not open.

    ``force`` (an owner's /refund) takes it even while it waits for a retry: a request racing
    another one is harmless, as Telegram refunds a charge once and answers the second
    ``CHARGE_ALREADY_REFUNDED``.
    """
    stamp = now + REFUND_LEASE if force else now
    taken = await session.scalar(
        _TAKE, {"refund": refund_id, "now": stamp, "until": now + REFUND_LEASE}
    )
    return await target(session, refund_id) if taken is not None else None


class UnknownChargeError(LookupError):
    """No payment with this charge id is in the ledger."""


async def open_for_owner(session: AsyncSession, charge_id: str) -> Refund:
    """The refund of a payment in the ledger, opened now if it had none (an owner's /refund).

    A payment not settled yet is settled by this: it will never be fulfilled as well.
    """
    if (refund := await by_charge(session, charge_id)) is not None:
        return refund
    payment = await ledger.by_charge(session, charge_id)
    if payment is None:
        raise UnknownChargeError(charge_id)
    await session.execute(delete(PendingPayment).where(PendingPayment.charge_id == charge_id))
    order_id = await session.scalar(
        select(Order.id).where(Order.telegram_payment_charge_id == charge_id)
    )
    refund = Refund(
        charge_id=charge_id,
        order_id=order_id,
        user_id=payment.user_id,
        amount=payment.amount,
        reason=RefundReason.OWNER.value,
        status=RefundStatus.DUE.value,
        next_attempt_at=None,
    )
    session.add(refund)
    await session.flush()
    return refund


async def mark_refunded(session: AsyncSession, refund_id: int, now: datetime) -> bool:
    """Telegram confirmed it; the order (if any) is refunded too. False if it was before."""
    changed = await session.scalar(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.DUE.value)
        .values(status=RefundStatus.REFUNDED.value, refunded_at=now, next_attempt_at=None)
        .returning(Refund.charge_id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        return False
    await session.execute(
        update(Order)
        .where(
            Order.telegram_payment_charge_id == changed,
            Order.status != OrderStatus.REFUNDED.value,
        )
        .values(status=OrderStatus.REFUNDED.value, refunded_at=now, next_delivery_at=None)
        .execution_options(synchronize_session=False)
    )
    await redemptions.give_back(session, changed, now)  # the promo code's use, if any
    return True


async def mark_failed(
    session: AsyncSession,
    refund_id: int,
    *,
    error: str,
    attempts: int,
    now: datetime,
    retry_base: timedelta | None,
) -> None:
    """Telegram refused or did not answer: retry with backoff, or (None) wait for an owner."""
    retry_at = now + backoff(attempts, retry_base) if retry_base is not None else None
    await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.DUE.value)
        .values(next_attempt_at=retry_at, last_error=error[:255])
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class SeenRefunded:
    """What recording a refund found in Telegram's ledger did."""

    marked: bool  # this call recorded it (False: recorded before, or not a payment of ours)
    ours: RefundTarget | None  # marked, and the bot had asked Telegram for it: the buyer is due
    # the notice its lost answer (a crash, a lost response) never gave them


async def refunded_elsewhere(session: AsyncSession, charge_id: str, now: datetime) -> SeenRefunded:
    """Telegram's ledger shows this payment refunded: by another tool, or by the bot itself
    whose answer was lost. Whoever records a refund of the bot's own (this, or the refund flow
    hearing the answer) tells the buyer, so they are told once."""
    if await ledger.by_charge(session, charge_id) is None:
        return SeenRefunded(marked=False, ours=None)  # not a payment this shop knows
    refund = await by_charge(session, charge_id)
    if refund is None:
        refund = await open_for_owner(session, charge_id)
        refund.reason = RefundReason.EXTERNAL.value
        await session.flush()
    asked = refund.attempts > 0
    if not await mark_refunded(session, refund.id, now):
        return SeenRefunded(marked=False, ours=None)
    return SeenRefunded(marked=True, ours=await target(session, refund.id) if asked else None)


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return list(await session.scalars(_DUE, {"now": now, "limit": limit}))


async def unalerted(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Refunds waiting for an owner whom nobody told yet: opened more than
    :data:`ALERT_GRACE` ago, so their own alert was lost (a crash, Telegram down)."""
    return list(await session.scalars(_UNALERTED, {"before": now - ALERT_GRACE, "limit": limit}))


async def mark_alerted(session: AsyncSession, refund_id: int, now: datetime) -> bool:
    """The owners were told (after the alert was sent: a crash before this means they are told
    again, never not at all). False if someone marked it first."""
    return await session.scalar(_MARK_ALERTED, {"refund": refund_id, "now": now}) is not None


@dataclass(frozen=True)
class RefundCounts:
    due: int
    refunded: int


async def counts(session: AsyncSession) -> RefundCounts:
    rows = dict(
        (status, int(n))
        for status, n in await session.execute(
            select(Refund.status, func.count(Refund.id)).group_by(Refund.status)
        )
    )
    due, refunded = RefundStatus.DUE.value, RefundStatus.REFUNDED.value
    return RefundCounts(rows.get(due, 0), rows.get(refunded, 0))


@dataclass(frozen=True)
class DueRefund:
    refund_id: int
    order_id: int | None  # None: the payment matched no order
    charge_id: str
    user_id: int
    amount: int
    reason: str
    slug: str | None
    last_error: str | None


async def due_list(session: AsyncSession, limit: int = DUE_SHOWN) -> list[DueRefund]:
    rows = await session.execute(
        select(
            Refund.id,
            Refund.order_id,
            Refund.charge_id,
            Refund.user_id,
            Refund.amount,
            Refund.reason,
            Product.slug,
            Refund.last_error,
        )
        .outerjoin(Order, Order.id == Refund.order_id)
        .outerjoin(Product, Product.id == Order.product_id)
        .where(Refund.status == RefundStatus.DUE.value)
        .order_by(Refund.id)
        .limit(limit)
    )
    return [DueRefund(*row) for row in rows]
