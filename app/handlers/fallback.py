"""Last router: whatever no other router took. Included after the owner tools, so that owner
commands sent by anyone else get the same answer as any unknown command."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType, ContentType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from app.filters.magic import Match
from app.handlers.screens import tell
from app.i18n import Translator

# What a person can send; service messages (payments, refunds, pins…) get no reply.
USER_CONTENT = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.DOCUMENT,
        ContentType.STICKER,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.VOICE,
        ContentType.AUDIO,
        ContentType.ANIMATION,
        ContentType.CONTACT,
        ContentType.LOCATION,
    }
)


async def unknown(message: Message, t: Translator) -> None:
    await message.answer(t("unknown_command"))


async def stale_button(_: CallbackQuery, callback_answer: CallbackAnswer, t: Translator) -> None:
    tell(callback_answer, t("buyer.fallback.stale_button"), alert=True)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(
        unknown, Match((F.chat.type == ChatType.PRIVATE) & F.content_type.in_(USER_CONTENT))
    )
    feature.callback_query.register(stale_button)
    return feature
