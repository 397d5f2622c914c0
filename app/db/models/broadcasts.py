"""Broadcasts: messages to every user, or to a product's watchers when it is back."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, sql_values


class BroadcastStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class BroadcastKind(enum.StrEnum):
    ALL = "all"  # every user who has not blocked the bot (/broadcast, the panel)
    RESTOCK = "restock"  # the watchers of one product that is back in stock


class Broadcast(TimestampMixin, Base):
    """A message to every user, sent in user-id order; ``last_user_id`` lets a restart resume.

    ``lease_until`` is held by the process that is sending, so that one replica sends at a time.
    A ``restock`` broadcast goes to the watchers of ``product_id`` instead (the watches up to
    ``audience_until``: a watch made after it was enqueued waits for the next restock).
    """

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(BroadcastStatus)})", name="status_known"),
        CheckConstraint(f"kind IN ({sql_values(BroadcastKind)})", name="kind_known"),
        CheckConstraint(
            "(kind = 'restock') = (product_id IS NOT NULL AND audience_until IS NOT NULL)",
            name="restock_audience",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.RUNNING)
    last_user_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    blocked: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(
        String(16), default=BroadcastKind.ALL, server_default=BroadcastKind.ALL.value
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), comment="restock: the product back"
    )
    audience_until: Mapped[int | None] = mapped_column(
        comment="restock: the last watch (restock_watches.id) of its audience"
    )
