"""Every button press answered once, after its handler: aiogram's CallbackAnswerMiddleware.

A handler with words for the user sets them on the ``callback_answer`` it is given (``text``,
``show_alert``) instead of calling answerCallbackQuery itself; the rest say nothing and the
spinner stops all the same. One difference from aiogram's own: a handler that fails leaves the
answer to the error path (:mod:`app.handlers.errors`), which answers with the error alert, as
Telegram takes one answer per press and aiogram's would have sent an empty one first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswerMiddleware


class AnswerCallbacks(CallbackAnswerMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answer = self.construct_callback_answer(properties=get_flag(data, "callback_answer"))
        data["callback_answer"] = answer
        result = await handler(event, data)
        if not answer.disabled and not answer.answered:
            await self.answer(event, answer)
        return result
