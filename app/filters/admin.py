"""The owner filter: the update comes from a user listed in ADMIN_IDS, in their private chat.

For anyone else, and for an owner writing in a group, the owner handlers simply do not match,
so the update falls through to the routers after them (ending in the unknown-command reply,
which a group never gets), exactly as for a command that does not exist. The chat is checked
here as well as on the root router (:mod:`app.filters.chats`): the owner tools post revenue and
unsold keys, and must never do so in a chat others read, however the routers are arranged.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject, User

from app.config import Settings
from app.filters.chats import chat_of, is_private


class IsAdmin(Filter):
    async def __call__(
        self,
        event: TelegramObject,
        settings: Settings,
        event_from_user: User | None = None,
    ) -> bool:
        return (
            event_from_user is not None
            and event_from_user.id in settings.admin_ids
            and is_private(chat_of(event))
        )
