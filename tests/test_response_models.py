"""aiogram's parametrised response models are built once per process, not once per API call."""

from __future__ import annotations

import gc

from pydantic._internal import _generics

from app.bot.factory import create_bot
from app.config import normalize_database_url
from tests.conftest import make_settings
from tests.fake_api import FakeBotAPI


def _cached_models() -> set[str]:
    return {model.__name__ for model in list(_generics._GENERIC_TYPES_CACHE.values())}


async def test_response_models_survive_garbage_collection(fake_api: FakeBotAPI) -> None:
    settings = make_settings(normalize_database_url("sqlite:///unused.db"), fake_api.url)
    bot = create_bot(settings)
    try:
        await bot.send_message(1, "hello")
        await bot.get_me()
        gc.collect()  # pydantic caches parametrised generics only weakly
        assert {"Response[Message]", "Response[User]"} <= _cached_models()
    finally:
        await bot.session.close()
