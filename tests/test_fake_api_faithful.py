"""Where the fake Bot API must answer exactly as Telegram does: unknown methods, limits,
entities, chats that never started the bot, and Telegram's own wording."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from aiogram.types import BotCommand, BufferedInputFile, LabeledPrice, Message, MessageEntity

from tests.fake_api import FakeBotAPI

TOKEN = "123456:TEST-token"
USER = 1001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as fake:
        fake.start_bot(USER)
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    yield bot
    await bot.session.close()


def _entities(message: Message | bool) -> list[tuple[str, int, int]]:
    assert isinstance(message, Message)
    return [(e.type, e.offset, e.length) for e in message.entities or []]


async def test_an_unimplemented_method_fails_the_call_and_the_test(api: FakeBotAPI) -> None:
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    try:
        with pytest.raises(TelegramNotFound, match="Not Found: method not found"):
            await bot.set_my_commands([BotCommand(command="start", description="Open")])
        with pytest.raises(TelegramNotFound, match="method not found"):
            await bot.send_video(USER, "https://example.com/a.mp4")
    finally:
        await bot.session.close()
    assert api.unimplemented == ["setMyCommands", "sendVideo"]
    with pytest.raises(AssertionError, match="does not answer: setMyCommands, sendVideo"):
        await api.stop()
    api.unimplemented.clear()  # the fixture's stop() would report them again


async def test_limits_count_characters_after_the_markup(bot: Bot) -> None:
    emoji = "🔑"  # two UTF-16 units, one character: Telegram counts characters
    assert (await bot.send_message(USER, emoji * 4096)).text == emoji * 4096
    assert await bot.send_message(USER, f"<b>{'x' * 4096}</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(USER, " \n ")
    keys = BufferedInputFile(b"KEY", filename="keys.txt")
    sent = await bot.send_document(USER, keys, caption="c" * 1024)
    assert sent.caption == "c" * 1024
    with pytest.raises(TelegramBadRequest, match="Bad Request: message caption is too long"):
        await bot.send_document(USER, keys, caption="c" * 1025)


async def test_callback_answers_are_at_most_200_characters(api: FakeBotAPI, bot: Bot) -> None:
    query = api.callback_query(USER, "buy:1")["callback_query"]
    with pytest.raises(TelegramBadRequest, match="Bad Request: MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query["id"], text="x" * 201, show_alert=True)
    assert await bot.answer_callback_query(query["id"], text="x" * 200, show_alert=True)


async def test_entities_are_kept_and_edits_compare_them(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "<b>Game</b> key: <code>K-1</code>", parse_mode="HTML")
    assert sent.text == "Game key: K-1"
    assert _entities(sent) == [("bold", 0, 4), ("code", 10, 3)]
    assert api.sent_to(USER)[-1]["entities"][0] == {"type": "bold", "offset": 0, "length": 4}

    async def edit(text: str) -> Message | bool:
        return await bot.edit_message_text(
            text, chat_id=USER, message_id=sent.message_id, parse_mode="HTML"
        )

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await edit("<strong>Game</strong> key: <code>K-1</code>\n")  # same after parsing
    # The same words in other formatting are a change, as at Telegram.
    assert _entities(await edit("Game key: <code>K-1</code>")) == [("code", 10, 3)]
    assert _entities(await edit("<i>Game</i> key: <code>K-1</code>"))[0] == ("italic", 0, 4)
    plain = await bot.edit_message_text(
        "Game key: K-1",
        chat_id=USER,
        message_id=sent.message_id,
        parse_mode=None,
        entities=[MessageEntity(type="italic", offset=0, length=4)],
    )
    assert isinstance(plain, Message)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Game key: K-1",
            chat_id=USER,
            message_id=sent.message_id,
            parse_mode=None,
            entities=[MessageEntity(type="italic", offset=0, length=4)],
        )


async def test_html_errors_in_tdlibs_words(bot: Bot) -> None:
    cases = {
        "1 < 2": 'Unsupported start tag "" at byte offset 2',
        "<br>": 'Unsupported start tag "br" at byte offset 0',
        "<b>bold": 'Can\'t find end tag corresponding to start tag "b"',
        "<b>x</i>": 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
        "x</b>": "Unexpected end tag at byte offset 1",
        "<span>x</span>": 'Tag "span" must have class "tg-spoiler" at byte offset 0',
    }
    for text, reason in cases.items():
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(USER, text, parse_mode="HTML")
        assert caught.value.message == f"Bad Request: can't parse entities: {reason}", text


async def test_a_chat_that_never_started_the_bot_is_forbidden(api: FakeBotAPI, bot: Bot) -> None:
    stranger = USER + 1
    reason = "Forbidden: bot can't initiate conversation with a user"
    with pytest.raises(TelegramForbiddenError, match=reason):
        await bot.send_message(stranger, "New in the shop!")
    with pytest.raises(TelegramForbiddenError, match=reason):
        await bot.send_invoice(stranger, "Key", "One key", "order:1", "XTR", _price(5))
    api.message(stranger, "/start")  # writing to the bot opens the chat
    assert await bot.send_message(stranger, "Welcome")
    api.block_user(stranger)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(stranger, "Still there?")
    api.unblock_user(stranger)
    assert await bot.send_message(stranger, "Welcome back")
    api.start_bot(stranger + 1)  # started long ago, before the test
    assert await bot.send_message(stranger + 1, "Your order")


def _price(amount: int) -> list[LabeledPrice]:
    return [LabeledPrice(label="Key", amount=amount)]


async def test_a_stars_invoice_has_one_price_within_bounds(api: FakeBotAPI, bot: Bot) -> None:
    async def send(prices: list[LabeledPrice], **extra: object) -> Message:
        return await bot.send_invoice(
            USER, "Game key", "One key", "order:1", "XTR", prices, **extra
        )

    assert (await send(_price(1))).invoice is not None
    assert (await send(_price(10_000))).invoice is not None
    for prices, reason in [
        (_price(0), "total price must be positive"),
        (_price(10_001), "CURRENCY_TOTAL_AMOUNT_INVALID"),
        (_price(5) * 2, "STARS_INVOICE_INVALID"),
        ([], "there must be at least one price"),
    ]:
        with pytest.raises(TelegramBadRequest, match=reason):
            await send(prices)
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await send(_price(5), provider_token="provider")
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await send(_price(5), max_tip_amount=10)
    with pytest.raises(TelegramBadRequest, match="INVOICE_PAYLOAD_INVALID"):
        await bot.send_invoice(USER, "Key", "One key", "p" * 129, "XTR", _price(5))


async def test_missing_parameters_in_the_bot_apis_words(api: FakeBotAPI, bot: Bot) -> None:
    query = api.pre_checkout_query(USER, "order:1", 50)["pre_checkout_query"]
    with pytest.raises(TelegramBadRequest, match='parameter "error_message" is required'):
        await bot.answer_pre_checkout_query(query["id"], ok=False)
    assert await bot.answer_pre_checkout_query(query["id"], ok=False, error_message="Sold out")
