"""Promo codes and their uses by orders."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, sql_values


class PromoKind(enum.StrEnum):
    PERCENT = "percent"  # value: 1..100 percent off the lines in scope
    FIXED = "fixed"  # value: Stars off the lines in scope


class PromoScope(enum.StrEnum):
    SHOP = "shop"
    CATEGORY = "category"
    PRODUCT = "product"


class RedemptionStatus(enum.StrEnum):
    HELD = "held"  # applied to a pending order; counts while the order waits for its payment
    USED = "used"  # the order was paid
    RELEASED = "released"  # given back: the payment was refunded, or the code was dropped


class PromoCode(TimestampMixin, Base):
    """A discount a buyer applies by its code (stored upper-case) before the invoice.

    ``owner_user_id`` binds it to one buyer (a referral reward). Uses are counted from
    :class:`PromoRedemption` rows (held or used) with this row locked, so the last use is
    taken once.
    """

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(PromoKind)})", name="kind_known"),
        CheckConstraint(f"scope IN ({sql_values(PromoScope)})", name="scope_known"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="value_range"),
        # /promo list: the owners' codes a page at a time, past any number of referral rewards.
        Index(
            "ix_promo_codes_shop",
            "id",
            postgresql_where=text("owner_user_id IS NULL"),
            sqlite_where=text("owner_user_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[int] = mapped_column(comment="percent (1-100) or Stars")
    scope: Mapped[str] = mapped_column(String(8), default=PromoScope.SHOP)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT")
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    min_total: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="Stars the lines in scope must reach"
    )
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None] = mapped_column(comment="NULL: no limit")
    per_user: Mapped[int | None] = mapped_column(comment="uses per buyer; NULL: no limit")
    owner_user_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="only this buyer may use it (a referral reward)"
    )
    disabled_at: Mapped[datetime | None]


class PromoRedemption(TimestampMixin, Base):
    """One code's use by one order: held at the invoice, used at payment, released on refund."""

    __tablename__ = "promo_redemptions"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(RedemptionStatus)})", name="status_known"),
        Index("ix_promo_redemptions_promo_id_user_id", "promo_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promo_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id", ondelete="RESTRICT"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(comment="Stars taken off the order")
    status: Mapped[str] = mapped_column(String(16), default=RedemptionStatus.HELD)
    used_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
