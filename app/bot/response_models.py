"""Keep aiogram's parametrised response models alive between API calls.

aiogram checks every Bot API answer with ``Response[<return type>]``. pydantic caches such
parametrised generic models only weakly, so once a call's ``Response[Message]`` is garbage
collected, the next call builds the model (its whole core schema) again: milliseconds of CPU
on every call. This request middleware holds a strong reference to each one after first use.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType


class PinResponseModels(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._pinned: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        response = await make_request(bot, method)
        returning = method.__returning__
        if returning not in self._pinned:  # the model aiogram just built is still cached
            self._pinned[returning] = Response[returning]  # type: ignore[valid-type]
        return response
