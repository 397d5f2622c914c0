"""The owner filter: the update comes from a user listed in ADMIN_IDS.

For anyone else the owner handlers simply do not match, so the update falls through to the
routers after them (ending in the unknown-command reply), exactly as for a command that does
not exist.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject, User

from app.config import Settings


class IsAdmin(Filter):
    async def __call__(
        self,
        event: TelegramObject,
        settings: Settings,
        event_from_user: User | None = None,
    ) -> bool:
        return event_from_user is not None and event_from_user.id in settings.admin_ids
