"""Reconciliation with Telegram's own ledger (``getStarTransactions``), one page at a time.

Telegram lists the bot's Star transactions oldest first. An invoice payment is incoming: its
``id`` is the ``telegram_payment_charge_id`` and its ``source`` a ``TransactionPartnerUser``
with the payer and the ``invoice_payload``. A refund is outgoing: the same ``id``, with the
partner as ``receiver``. A page is applied in one transaction: payments the ledger lacks are
recorded (``source = reconciliation``) and refunds made elsewhere are marked refunded. Both are
idempotent, so pages read twice (the overlap that keeps the checkpoint from ever skipping a
transaction) change nothing the second time. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiogram.types import StarTransaction, TransactionPartnerUser
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import PaymentSource
from app.services import ledger, refunds
from app.services.ledger import ReportedPayment
from app.services.refunds import RefundTarget

CURRENCY = "XTR"


@dataclass
class PageOutcome:
    recorded: list[str] = field(default_factory=list)  # charge ids found only in Telegram's ledger
    refunded: list[str] = field(default_factory=list)  # refunds made outside this bot
    answered: list[RefundTarget] = field(default_factory=list)  # the bot's own, answer lost


def incoming_payment(transaction: StarTransaction) -> ReportedPayment | None:
    source = transaction.source
    if not isinstance(source, TransactionPartnerUser) or source.invoice_payload is None:
        return None  # not an invoice payment (a gift, paid media, a subscription …)
    return ReportedPayment(
        charge_id=transaction.id,
        user_id=source.user.id,
        payload=source.invoice_payload,
        currency=CURRENCY,
        amount=transaction.amount,
        paid_at=_date(transaction),
    )


def _date(transaction: StarTransaction) -> datetime:
    date = transaction.date
    return date if isinstance(date, datetime) else datetime.fromtimestamp(int(date), UTC)


async def apply_page(
    session: AsyncSession, transactions: list[StarTransaction], now: datetime
) -> PageOutcome:
    outcome = PageOutcome()
    payments = [p for t in transactions if t.source is not None and (p := incoming_payment(t))]
    known = await ledger.known_charges(session, (p.charge_id for p in payments))
    for payment in payments:
        if payment.charge_id not in known and await ledger.record(
            session, payment, PaymentSource.RECONCILIATION
        ):
            outcome.recorded.append(payment.charge_id)
            known.add(payment.charge_id)
    for transaction in transactions:
        if isinstance(transaction.receiver, TransactionPartnerUser) and transaction.source is None:
            refund = await refunds.by_charge(session, transaction.id)
            if refund is not None and refund.status == "refunded":
                continue
            seen = await refunds.refunded_elsewhere(session, transaction.id, now)
            if seen.ours is not None:
                outcome.answered.append(seen.ours)
            elif seen.marked:
                outcome.refunded.append(transaction.id)
    return outcome
