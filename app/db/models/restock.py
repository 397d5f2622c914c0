"""Restock watches: the buyers waiting for a sold-out product."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


class RestockWatch(TimestampMixin, Base):
    """A buyer waiting for a sold-out product; deleted when told it is back (or on leaving).

    The restock alert walks a product's watches in user-id order (the unique constraint's
    index); an import finds the newest by ``(product_id, id)``; a buyer's own list (/alerts)
    reads the user-id index.
    """

    __tablename__ = "restock_watches"
    __table_args__ = (
        UniqueConstraint("product_id", "user_id"),
        # A product's newest watch, and the watches past a running alert's audience (enqueue).
        Index("ix_restock_watches_product_id_id", "product_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
