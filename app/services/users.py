"""Buyers as the shop knows them: registered on /start, refreshed when they buy."""

from __future__ import annotations

from typing import Any

from aiogram.types import User as TelegramUser
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import User
from app.db.uow import dialect_name

_REFRESHED = ("username", "first_name", "language_code", "is_blocked", "last_seen_at")


def _upsert(insert: Any) -> Any:
    """INSERT … ON CONFLICT (id) DO UPDATE, built once: every call only binds new values."""
    stmt = insert(User.__table__)
    return stmt.on_conflict_do_update(
        index_elements=[User.id], set_={name: stmt.excluded[name] for name in _REFRESHED}
    )


_UPSERT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


async def upsert_user(session: AsyncSession, user: TelegramUser) -> None:
    """Insert or refresh the user in one statement; the caller commits.

    A user who writes to the bot has evidently not blocked it, so ``is_blocked`` is cleared and
    broadcasts reach them again.
    """
    now = utcnow()
    values = {
        "id": user.id,
        "username": user.username[:64] if user.username else None,
        "first_name": (user.first_name or "")[:128],
        "language_code": user.language_code[:16] if user.language_code else None,
        "is_blocked": False,
        "last_seen_at": now,
        "created_at": now,
    }
    await session.execute(_UPSERT[dialect_name(session)], values)


_ENSURE = {
    name: insert(User).on_conflict_do_nothing(index_elements=[User.id])
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


async def ensure_user(session: AsyncSession, user_id: int) -> None:
    """A row for a payer the shop has not seen (a payment found only in Telegram's ledger)."""
    now = utcnow()
    values = {"id": user_id, "first_name": "", "is_blocked": False, "last_seen_at": now}
    await session.execute(_ENSURE[dialect_name(session)], {**values, "created_at": now})
