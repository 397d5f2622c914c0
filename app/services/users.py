"""Buyers as the shop knows them: registered on /start, refreshed when they buy."""

from __future__ import annotations

from typing import Any

from aiogram.types import User as TelegramUser
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import User
from app.services.tx import dialect_name


def _insert(session: AsyncSession) -> Any:
    if dialect_name(session) == "postgresql":
        return postgresql.insert(User)
    return sqlite.insert(User)


async def upsert_user(session: AsyncSession, user: TelegramUser) -> None:
    """Insert or refresh the user in one statement; the caller commits.

    A user who writes to the bot has evidently not blocked it, so ``is_blocked`` is cleared and
    broadcasts reach them again.
    """
    values = {
        "username": user.username[:64] if user.username else None,
        "first_name": (user.first_name or "")[:128],
        "language_code": user.language_code[:16] if user.language_code else None,
        "is_blocked": False,
        "last_seen_at": utcnow(),
    }
    stmt = _insert(session).values(id=user.id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[User.id], set_=values)
    await session.execute(stmt)
