"""Alerts to the shop's owners (every id in ``ADMIN_IDS``), each in the owner's own language."""

from __future__ import annotations

from typing import Any

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db.models import User
from app.db.uow import SessionFactory, read
from app.i18n import translator

log = structlog.get_logger(__name__)


async def alert_owners(
    bot: Bot, factory: SessionFactory, settings: Settings, key: str, **kwargs: Any
) -> int:
    """Send the text ``key`` to every owner; returns how many got it.

    ``kwargs`` are logged too, so they must never carry delivered content.
    """
    owner_ids = sorted(settings.admin_ids)
    log.info("owner alert", alert=key, owners=len(owner_ids), **kwargs)
    if not owner_ids:
        log.warning("no ADMIN_IDS configured; the alert reached nobody", alert=key)
        return 0
    languages: dict[int, str | None] = {}
    try:
        async with factory() as session, read(session):
            query = select(User.id, User.language_code).where(User.id.in_(owner_ids))
            languages = {user_id: language for user_id, language in await session.execute(query)}
    except SQLAlchemyError:  # the alert matters more than its language
        log.warning("owner languages unavailable; alerting in English", exc_info=True)
    sent = 0
    for owner_id in owner_ids:
        text = translator(languages.get(owner_id))(key, **kwargs)
        try:
            await bot.send_message(owner_id, text)
        except TelegramAPIError as exc:
            log.warning("owner alert not delivered", admin_id=owner_id, error=exc.message)
        else:
            sent += 1
    return sent
