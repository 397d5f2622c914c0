"""The payments ledger: every payment Telegram reports, written first and never changed.

Recording is one short transaction that does nothing but insert the row (``ON CONFLICT DO
NOTHING`` on the charge id, so a redelivered update, a webhook retry, a second replica or the
reconciliation all record it once) and its :class:`~app.db.models.PendingPayment` marker.
Settling it (claiming the item, or opening a refund) comes after, in
:mod:`app.services.fulfilment`, and deletes the marker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Payment, PaymentSource, PendingPayment
from app.db.uow import dialect_name

# A payment recorded from its update is settled by that update's handler right away; the
# fulfilment worker leaves it alone for this long, and takes over if the handler never did.
HANDLER_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class ReportedPayment:
    """A payment as Telegram reported it (``successful_payment`` or a Star transaction)."""

    charge_id: str
    user_id: int
    payload: str
    currency: str
    amount: int
    paid_at: datetime
    provider_charge_id: str | None = None


def _inserts(insert: Any) -> tuple[Any, Any]:
    payment = insert(Payment.__table__).on_conflict_do_nothing(index_elements=["charge_id"])
    pending = insert(PendingPayment.__table__).on_conflict_do_nothing(index_elements=["charge_id"])
    return payment.returning(Payment.id), pending


_INSERTS = {"postgresql": _inserts(postgresql.insert), "sqlite": _inserts(sqlite.insert)}
_KNOWN = select(Payment.charge_id).where(Payment.charge_id.in_(bindparam("ids", expanding=True)))
_BY_CHARGE = select(Payment).where(Payment.charge_id == bindparam("charge"))


async def record(
    session: AsyncSession,
    payment: ReportedPayment,
    source: PaymentSource,
    *,
    settle_after: datetime | None = None,
) -> bool:
    """Insert the ledger row and its pending marker; False if the charge was recorded before.

    ``settle_after`` is when the fulfilment worker may settle it (default: at once).
    """
    insert_payment, insert_pending = _INSERTS[dialect_name(session)]
    now = utcnow()
    new = await session.scalar(
        insert_payment,
        {
            "charge_id": payment.charge_id,
            "provider_charge_id": payment.provider_charge_id or None,
            "user_id": payment.user_id,
            "payload": payment.payload[:128],
            "currency": payment.currency[:8],
            "amount": payment.amount,
            "paid_at": payment.paid_at,
            "source": source.value,
            "recorded_at": now,
        },
    )
    if new is None:
        return False
    await session.execute(
        insert_pending,
        {"charge_id": payment.charge_id, "attempts": 0, "next_attempt_at": settle_after or now},
    )
    return True


async def known_charges(session: AsyncSession, charge_ids: Iterable[str]) -> set[str]:
    ids = list(charge_ids)
    if not ids:
        return set()
    return set(await session.scalars(_KNOWN, {"ids": ids}))


async def by_charge(session: AsyncSession, charge_id: str) -> Payment | None:
    return await session.scalar(_BY_CHARGE, {"charge": charge_id})
