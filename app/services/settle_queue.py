"""The queue of recorded payments not settled yet: their :class:`PendingPayment` markers.

The fulfilment worker takes the due ones, oldest first (:func:`due`); a settlement that fails
moves its marker back with backoff (:func:`postpone`), so a payment that always fails never
holds up the newer ones. Settling one deletes its marker (:mod:`app.services.fulfilment`).
Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import PendingPayment
from app.services import delivery, ledger

_LOCK_PENDING = (
    select(PendingPayment)
    .where(PendingPayment.charge_id == bindparam("charge"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_DUE = (
    select(PendingPayment.charge_id)
    .where(PendingPayment.next_attempt_at <= bindparam("now"))
    .order_by(PendingPayment.next_attempt_at)
    .limit(bindparam("limit"))
)


async def due(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Recorded payments nobody settled yet, oldest first (the fulfilment worker's queue)."""
    return list(await session.scalars(_DUE, {"now": now, "limit": limit}))


@dataclass(frozen=True)
class Postponed:
    charge_id: str
    attempts: int  # failed settlements so far
    retry_at: datetime
    user_id: int
    amount: int


async def postpone(
    session: AsyncSession, charge_id: str, now: datetime, base: timedelta
) -> Postponed | None:
    """A settlement failed: its marker moves back in the queue with backoff (``base``,
    doubling, at most :data:`app.services.delivery.MAX_BACKOFF`), so a payment that always
    fails never holds up the newer ones. None if it was settled meanwhile."""
    pending = await session.scalar(_LOCK_PENDING, {"charge": charge_id})
    payment = await ledger.by_charge(session, charge_id)
    if pending is None or payment is None:
        return None
    pending.attempts += 1
    pending.next_attempt_at = now + delivery.backoff(pending.attempts, base)
    await session.flush()
    return Postponed(
        charge_id, pending.attempts, pending.next_attempt_at, payment.user_id, payment.amount
    )
