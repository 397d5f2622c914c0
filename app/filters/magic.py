"""Magic filters (``F.…``) checked on the event loop.

aiogram runs a bare magic filter given to a handler as a synchronous callable, and every
synchronous filter goes through ``asyncio.to_thread``: a hop to the thread pool and back for
each check of each update, a few percent of the shop's CPU. :class:`Match` is an ordinary
(async) aiogram filter that resolves the same rule inline.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from aiogram.utils.magic_filter import MagicFilter


class Match(Filter):
    def __init__(self, rule: MagicFilter) -> None:
        self.rule = rule

    async def __call__(self, event: TelegramObject) -> bool:
        return bool(self.rule.resolve(event))

    def __str__(self) -> str:
        return f"Match({self.rule!r})"
