"""The shop is a private-chat bot: it answers people in their own chat with it, never in groups.

:class:`PrivateChat` sits on the root router's message and callback-query observers
(:func:`app.handlers.build_root_router`): a message in a group or a channel, or a press of a
button under one, reaches no handler at all, so nothing the shop shows (a buyer's menu, an
owner's figures or exported keys) is ever posted where others read it. Pre-checkout queries
have no chat; they are the payment step of an invoice the bot sent in a private chat.
"""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject


def chat_of(event: TelegramObject) -> Chat | None:
    """The chat a message was sent in, or that of the message under a pressed button."""
    if isinstance(event, Message):
        return event.chat
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat
    return None


def is_private(chat: Chat | None) -> bool:
    return chat is not None and chat.type == ChatType.PRIVATE


class PrivateChat(Filter):
    async def __call__(self, event: TelegramObject) -> bool:
        return is_private(chat_of(event))
