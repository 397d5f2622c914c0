"""The shop's users: whoever wrote to the bot, and whether an owner banned them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, utcnow


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # The banned only, a walk as short as the ban list: /stats' capped count of the banned
        # (app/services/bans.py) and the referral reward pass's banned referrers
        # (app/services/referral_rewards.py). An update's own ban is read by primary key.
        Index(
            "ix_users_banned",
            "id",
            postgresql_where=text("banned_at IS NOT NULL"),
            sqlite_where=text("banned_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    language_code: Mapped[str | None] = mapped_column(String(16))
    is_blocked: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_seen_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    banned_at: Mapped[datetime | None] = mapped_column(
        comment="set by the owner: the bot ignores this user's updates (payments excepted)"
    )
