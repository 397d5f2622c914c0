"""Buyers' reviews of the products of their delivered orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


class Review(TimestampMixin, Base):
    """A buyer's rating (1-5) of a product of a delivered order, with an optional text; one
    per order and product (a cart of two products gets a review of each).

    The product's ``rating_count`` and ``rating_sum`` follow its visible reviews, changed in
    the same transaction as a review is added or hidden, so the card reads two columns.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_product_id_id", "product_id", "id"),
        # Built concurrently, then the one-per-order constraint it replaces dropped.
        Index("uq_reviews_order_id_product_id", "order_id", "product_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    rating: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    hidden_at: Mapped[datetime | None] = mapped_column(comment="hidden by an owner")
