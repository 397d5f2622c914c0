"""Referrals: links, who brought whom, the referrers' rewards, and the programme's terms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, utcnow


class ReferralLink(Base):
    """A user's stable referral code (``/start ref_<code>``), made when first asked for."""

    __tablename__ = "referral_links"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(16), unique=True)


class Referral(Base):
    """Who brought whom: written at the referee's first /start only, one referrer each.

    The referee's first paid order is recorded by the settlement that pays it, and the referral
    is settled once the reward pass granted its reward or found that order refunded: the pass
    reads only the referrals between the two (``ix_referrals_waiting``), never the referees who
    never paid nor those settled long ago.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        Index(
            "ix_referrals_waiting",
            "first_paid_at",
            postgresql_where=text("first_paid_at IS NOT NULL AND settled_at IS NULL"),
            sqlite_where=text("first_paid_at IS NOT NULL AND settled_at IS NULL"),
        ),
    )

    referee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    referrer_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    first_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), comment="the referee's first paid order"
    )
    first_paid_at: Mapped[datetime | None] = mapped_column(
        comment="that order's paid_at: its hold runs from here"
    )
    settled_at: Mapped[datetime | None] = mapped_column(
        comment="rewarded, or forfeited (the first paid order refunded)"
    )


class ReferralReward(TimestampMixin, Base):
    """The referrer's reward for one referee's first paid order: at most one per referee."""

    __tablename__ = "referral_rewards"
    __table_args__ = (
        Index("ix_referral_rewards_referrer_id_created_at", "referrer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referee_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.referee_id", ondelete="RESTRICT"), unique=True
    )
    referrer_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    promo_id: Mapped[int] = mapped_column(
        ForeignKey("promo_codes.id", ondelete="RESTRICT"), unique=True
    )
    notified_at: Mapped[datetime | None] = mapped_column(comment="the referrer was told")


class ReferralTerms(Base):
    """The referral programme's terms as the owners set them (``/referral``, ``python -m app
    referral``): one row, id 1. A NULL column keeps the environment's value (``REFERRAL_*``)."""

    __tablename__ = "referral_terms"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("hold_days BETWEEN 0 AND 365", name="hold_days_range"),
        CheckConstraint("reward_percent BETWEEN 1 AND 100", name="reward_percent_range"),
        CheckConstraint("daily_cap BETWEEN 1 AND 1000", name="daily_cap_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hold_days: Mapped[float | None] = mapped_column(
        comment="days a referee's first paid order must stay unrefunded"
    )
    reward_percent: Mapped[int | None] = mapped_column(comment="the reward code's percent off")
    daily_cap: Mapped[int | None] = mapped_column(comment="rewards per referrer per UTC day")
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[int | None] = mapped_column(BigInteger, comment="the owner; NULL: the CLI")
