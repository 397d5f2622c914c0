"""How every buyer screen is displayed: :func:`show` turns the pressed message into it."""

from __future__ import annotations

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

log = structlog.get_logger(__name__)


async def show(
    query: CallbackQuery,
    bot: Bot,
    text: str,
    markup: InlineKeyboardMarkup,
) -> None:
    """Turn the message under the pressed button into this screen (the press itself is answered
    by :mod:`app.middlewares.callbacks` once the handler returns).

    A message too old to edit (or gone) is replaced by a new one. The caller must have ended
    its database transaction: these are Telegram calls.
    """
    message = query.message
    try:
        if isinstance(message, Message) and message.text is not None:
            await message.edit_text(text, reply_markup=markup)
        else:
            await bot.send_message(query.from_user.id, text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            log.info("could not edit, sending anew", error=exc.message)
            await bot.send_message(query.from_user.id, text, reply_markup=markup)


def tell(answer: CallbackAnswer, text: str, *, alert: bool = False) -> None:
    """What the press's answer says: a toast, or (``alert``) a box the user dismisses."""
    answer.text = text
    answer.show_alert = alert
