"""aiogram's parametrised response models are built once per process, not once per API call.

aiogram validates every answer with ``Response[<return type>]``, and pydantic keeps such
parametrised models only as long as something else holds them. The probe makes real calls
through a Bot against the fake Bot API, collects garbage, then asks for ``Response[Message]``
again holding only a weak reference to what it got: the model survives a second collection only
if something pins it. It runs in a fresh interpreter, so that no model another test left alive
can hide the difference, and once without the pin, as the negative control.
"""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO_ROOT

PROBE = """
import asyncio, gc, sys, weakref

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response
from aiogram.types import Message, User

from app.bot.factory import create_bot
from app.config import normalize_database_url
from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN, make_settings


def plain_bot(api):
    return Bot(BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


def app_bot(api):
    return create_bot(make_settings(normalize_database_url("sqlite:///unused.db"), api.url))


async def survives(make_bot):
    async with FakeBotAPI(BOT_TOKEN) as api:
        api.start_bot(1)
        bot = make_bot(api)
        try:
            await bot.send_message(1, "hello")
            await bot.get_me()
            gc.collect()
            refs = [weakref.ref(Response[Message]), weakref.ref(Response[User])]
            gc.collect()
            return [ref() is not None for ref in refs]
        finally:
            await bot.session.close()


async def main():
    print(*await survives(plain_bot), *await survives(app_bot))


asyncio.run(main())
"""


def test_the_app_bot_pins_response_models_and_a_plain_bot_does_not() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    plain_message, plain_user, app_message, app_user = result.stdout.split()
    assert (plain_message, plain_user) == ("False", "False"), "negative control: nothing pins"
    assert (app_message, app_user) == ("True", "True"), "the app's bot keeps its models alive"
