"""Banning a user (the web panel, /ban): the bot then refuses their updates, payments excepted.

A ban is ``users.banned_at``; the bot reads the ban of a user whose update comes, at most once
every few seconds (:mod:`app.middlewares.bans`). Like every service these only flush; the
caller commits.
"""

from __future__ import annotations

from sqlalchemy import Integer, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import User
from app.services.products import ShopInputError
from app.services.users import ensure_user

_BANNED = select(User.id).where(User.banned_at.is_not(None))
# Built once with a bind parameter (as the buyer's queries are): a call only binds the id.
_BANNED_AT = select(User.banned_at).where(User.id == bindparam("user"))


async def set_banned(
    session: AsyncSession, user_id: int, banned: bool, *, in_advance: bool = False
) -> bool:
    """Ban or unban; returns False when the user already was so. Unknown user: ShopInputError.

    With ``in_advance`` (``/ban``) a user the shop has never seen is banned all the same (a
    known scammer's id): their row is made, banned, and their first update is refused.
    """
    if banned and in_advance:
        await ensure_user(session, user_id)  # a no-op for a known user, safe against a /start
    user = await session.get(User, user_id, with_for_update={"key_share": True})
    if user is None:
        raise ShopInputError("unknown_user", user_id=user_id)
    if (user.banned_at is not None) == banned:
        return False
    user.banned_at = utcnow() if banned else None
    await session.flush()
    return True


async def is_banned(session: AsyncSession, user_id: int) -> bool:
    banned_at = await session.scalar(_BANNED_AT, {"user": user_id})
    return banned_at is not None


BANNED_CAP = 1000  # /stats counts the banned up to this ("999+")
_BANNED_CAPPED = select(func.count()).select_from(
    _BANNED.order_by(User.id).limit(literal_column(str(BANNED_CAP), Integer)).subquery()
)


async def banned_count(session: AsyncSession) -> int:
    """How many users are banned, up to :data:`BANNED_CAP` (a walk of the partial index of the
    banned that stops there)."""
    return int(await session.scalar(_BANNED_CAPPED) or 0)
