"""Alerts to the shop's owners (every id in ``ADMIN_IDS``), each in the owner's own language."""

from __future__ import annotations

from typing import Any

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import User
from app.i18n import translator

log = structlog.get_logger(__name__)


async def alert_admins(
    bot: Bot, session: AsyncSession, settings: Settings, key: str, **kwargs: Any
) -> int:
    """Send the text ``key`` to every admin; returns how many got it. Commits the session.

    ``kwargs`` are logged too, so they must never carry delivered content.
    """
    admin_ids = sorted(settings.admin_ids)
    log.info("admin alert", alert=key, admins=len(admin_ids), **kwargs)
    if not admin_ids:
        log.warning("no ADMIN_IDS configured; the alert reached nobody", alert=key)
        return 0
    languages: dict[int, str | None] = {}
    try:
        query = select(User.id, User.language_code).where(User.id.in_(admin_ids))
        languages = {user_id: language for user_id, language in await session.execute(query)}
        await session.commit()  # no transaction across the sends
    except SQLAlchemyError:  # the alert matters more than its language
        log.warning("admin languages unavailable; alerting in English", exc_info=True)
        await session.rollback()
    sent = 0
    for admin_id in admin_ids:
        text = translator(languages.get(admin_id))(key, **kwargs)
        try:
            await bot.send_message(admin_id, text)
        except TelegramAPIError as exc:
            log.warning("admin alert not delivered", admin_id=admin_id, error=exc.message)
        else:
            sent += 1
    return sent
