"""Money in and out: the payments ledger, its settlement queue, refunds, and the worker leases."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, sql_values, utcnow


class PaymentSource(enum.StrEnum):
    UPDATE = "update"  # the successful_payment update
    RECONCILIATION = "reconciliation"  # found in getStarTransactions, its update never handled


class RefundStatus(enum.StrEnum):
    DUE = "due"
    REFUNDED = "refunded"


class RefundReason(enum.StrEnum):
    SOLD_OUT = "sold_out"  # paid, but nothing was left to sell
    UNMATCHED = "unmatched"  # the payload matches no order
    OWNER = "owner"  # /refund
    EXTERNAL = "external"  # refunded outside this bot (seen in Telegram's ledger)
    UNDELIVERABLE = "undeliverable"  # sold, but Telegram refused its goods past the deadline


class Payment(Base):
    """Telegram's ``successful_payment`` as it was reported: written first, never changed."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"source IN ({sql_values(PaymentSource)})", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[str] = mapped_column(
        String(255), unique=True, comment="telegram_payment_charge_id"
    )
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(BigInteger, comment="the payer")
    payload: Mapped[str] = mapped_column(String(128), comment="invoice payload")
    currency: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int]
    paid_at: Mapped[datetime] = mapped_column(comment="when Telegram took the payment")
    source: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class PendingPayment(Base):
    """A recorded payment that is not settled yet (no item claimed, no refund opened).

    Written in the ledger row's transaction and deleted in the one that settles it, so the
    fulfilment worker reads a queue as long as the backlog, never the whole ledger.
    """

    __tablename__ = "pending_payments"

    charge_id: Mapped[str] = mapped_column(
        ForeignKey("payments.charge_id", ondelete="RESTRICT"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)


class Refund(TimestampMixin, Base):
    """A refund owed or made, one per payment; ``refunded_at`` once Telegram confirmed it."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(RefundStatus)})", name="status_known"),
        CheckConstraint(f"reason IN ({sql_values(RefundReason)})", name="reason_known"),
        Index(
            "ix_refunds_due",
            "next_attempt_at",
            postgresql_where=text("status = 'due'"),
            sqlite_where=text("status = 'due'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[str] = mapped_column(
        ForeignKey("payments.charge_id", ondelete="RESTRICT"), unique=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.DUE)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        comment="automatic refunds: when to ask Telegram again; NULL waits for an owner"
    )
    last_error: Mapped[str | None] = mapped_column(String(255))
    alerted_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]


class WorkerLease(Base):
    """Which process runs a singleton job (reconciliation), until when, and where it got to."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    checkpoint: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", comment="reconciliation: transactions read"
    )
    updated_at: Mapped[datetime | None]
