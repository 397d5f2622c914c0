"""The framework's floor: a bare aiogram polling bot with one echo handler and no database.

With ``--hold-gc`` it handles the garbage collector at start-up as ``python -m app`` does
(app/heap.py), so that the two can also be compared like for like.
"""

from __future__ import annotations

import gc
import sys

HOLD_GC = "--hold-gc" in sys.argv
if HOLD_GC:
    gc.disable()

import asyncio  # noqa: E402
import os  # noqa: E402

from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    if HOLD_GC:

        @dispatcher.startup()
        async def settle() -> None:
            gc.freeze()
            gc.enable()

    await dispatcher.start_polling(bot, polling_timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
