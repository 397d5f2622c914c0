"""Tests of the fake Bot API itself, driven through a real aiogram ``Bot``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    TelegramObject,
    Update,
)

from tests.fake_api import FakeBotAPI, WaitTimeoutError

TOKEN = "123456:TEST-token"
USER = 1001


def _bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as fake:
        fake.start_bot(USER, USER + 1)  # the bot may write to them
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = _bot(api)
    yield bot
    await bot.session.close()


def _keyboard(data: str = "buy:1") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Buy", callback_data=data)]]
    )


def _dump(obj: TelegramObject | None) -> dict[str, Any]:
    """Compare aiogram objects by content (parsed ones also carry the bot context)."""
    assert obj is not None
    return obj.model_dump(exclude_none=True)


async def _raw(api: FakeBotAPI, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(f"{api.url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def test_get_me(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "fake_shop_bot")
    assert api.bot_user["id"] == me.id
    assert api.calls[0].method == "getMe"


async def test_send_message_parses_and_is_recorded(api: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(USER, "<b>Hi</b> &amp; bye", parse_mode="HTML")
    second = await bot.send_message(USER, "menu", reply_markup=_keyboard())
    assert isinstance(first, Message)
    assert first.text == "Hi & bye"
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == api.bot_user["id"]
    assert second.message_id == first.message_id + 1
    assert _dump(second.reply_markup) == _dump(_keyboard())
    assert [m["message_id"] for m in api.sent_to(USER)] == [first.message_id, second.message_id]
    assert api.sent_to(USER + 1) == []
    params = api.calls_of("sendMessage")[1]
    assert params["chat_id"] == USER
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "buy:1"
    assert api.calls_of("sendmessage")[0]["text"] == "<b>Hi</b> &amp; bye"


async def test_send_message_validates_like_telegram(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "1 < 2 <b>oops", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "menu", reply_markup=_keyboard("x" * 65))


async def test_blocked_user_gets_forbidden(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "before the block")
    api.block_user(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.edit_message_text("edited", chat_id=USER, message_id=sent.message_id)
    await bot.send_message(USER + 1, "others still work")
    assert [m["text"] for m in api.sent_to(USER)] == ["before the block"]


async def test_fail_next_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "first")
    assert caught.value.retry_after == 7
    await bot.send_message(USER, "second")
    assert [m["text"] for m in api.sent_to(USER)] == ["second"]


async def test_fail_next_for_one_chat_several_times(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 500, "Internal Server Error", chat_id=USER, times=2)
    await bot.send_message(USER + 1, "unaffected")
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(USER, "fails")
    await bot.send_message(USER, "works again")
    assert len(api.calls_of("sendMessage")) == 4


async def test_http_level_errors(api: FakeBotAPI) -> None:
    status, body = await _raw(api, f"/bot{TOKEN}/sendTelepathy")
    assert (status, body) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    assert api.unimplemented == ["sendTelepathy"]  # stop() would fail the test for it
    api.unimplemented.clear()
    status, body = await _raw(api, "/bot999:wrong/getMe")
    assert (status, body["description"]) == (401, "Unauthorized")
    status, body = await _raw(api, f"/bot{TOKEN}/GETME")
    assert status == 200 and body["result"]["username"] == "fake_shop_bot"
    status, body = await _raw(api, f"/bot{TOKEN}/sendMessage", json={"chat_id": USER})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await _raw(api, f"/bot{TOKEN}/sendMessage", json={"text": "hi"})
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")


async def test_form_encoded_params_are_decoded(api: FakeBotAPI) -> None:
    markup = '{"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}'
    form = {"chat_id": str(USER), "text": "123", "reply_markup": markup}
    status, body = await _raw(api, f"/bot{TOKEN}/sendMessage", data=form)
    assert status == 200 and body["result"]["text"] == "123"
    params = api.calls_of("sendMessage")[0]
    assert params == {
        "chat_id": USER,
        "text": "123",
        "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
    }


async def test_builders_produce_valid_updates(api: FakeBotAPI) -> None:
    document = api.add_file(b"keys", "stock.txt")
    built = [
        api.build_message(USER, "hello", language_code="ru", document=document),
        api.build_callback_query(USER, "buy:1"),
        api.build_pre_checkout_query(USER, "order:1", 50),
        api.build_successful_payment(USER, "order:1", 50, "charge-1"),
    ]
    ids = [u["update_id"] for u in built]
    assert ids == sorted(set(ids))
    for raw in built:
        Update.model_validate(raw)
    assert api.updates.pending == []
    message = Update.model_validate(built[0]).message
    assert message is not None and message.document is not None
    assert (message.caption, message.from_user and message.from_user.language_code) == (
        "hello",
        "ru",
    )


async def test_send_invoice_validation_for_stars(api: FakeBotAPI, bot: Bot) -> None:
    price = [LabeledPrice(label="Key", amount=50)]

    async def send(prices: list[LabeledPrice], provider_token: str | None = None) -> Message:
        return await bot.send_invoice(
            USER, "Game key", "One key", "order:1", "XTR", prices, provider_token=provider_token
        )

    message = await send(price)
    assert message.invoice is not None
    assert (message.invoice.currency, message.invoice.total_amount) == ("XTR", 50)
    assert api.sent_to(USER)[-1]["invoice"]["title"] == "Game key"
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await send(price * 2)
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await send(price, provider_token="provider")
    with pytest.raises(TelegramBadRequest, match="total price must be positive"):
        await send([LabeledPrice(label="Key", amount=0)])


async def test_pre_checkout_query_answered_once(api: FakeBotAPI, bot: Bot) -> None:
    query_id = api.pre_checkout_query(USER, "order:1", 50)["pre_checkout_query"]["id"]
    assert await bot.answer_pre_checkout_query(query_id, ok=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(query_id, ok=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query("unknown", ok=False, error_message="Sold out")
    assert api.pre_checkout_answers == {query_id: {"ok": True, "error_message": None}}
    assert api.calls_of("answerPreCheckoutQuery")[0]["ok"] is True


async def test_refund_star_payment(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
        await bot.refund_star_payment(USER, "never-issued")
    api.successful_payment(USER, "order:1", 50, "charge-1")
    with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
        await bot.refund_star_payment(USER + 1, "charge-1")
    assert await bot.refund_star_payment(USER, "charge-1")
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, "charge-1")
    assert api.stars_refunds == [{"user_id": USER, "telegram_payment_charge_id": "charge-1"}]
    assert [t["id"] for t in api.ledger.transactions] == ["charge-1", "charge-1"]


async def test_get_file_and_download(api: FakeBotAPI, bot: Bot) -> None:
    document = api.add_file(b"KEY-1\nKEY-2\n", "stock.txt")
    assert document["file_size"] == 12 and document["mime_type"] == "text/plain"
    file = await bot.get_file(document["file_id"])
    assert file.file_path is not None
    downloaded = await bot.download(file)
    assert downloaded is not None and downloaded.read() == b"KEY-1\nKEY-2\n"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_send_document_upload(api: FakeBotAPI, bot: Bot) -> None:
    upload = BufferedInputFile(b"AAAA-BBBB", filename="keys.txt")
    message = await bot.send_document(USER, upload, caption="<i>Your keys</i>", parse_mode="HTML")
    assert message.document is not None and message.document.file_name == "keys.txt"
    assert message.caption == "Your keys"
    assert api.file_content(message.document.file_id) == b"AAAA-BBBB"
    resent = await bot.send_document(USER + 1, message.document.file_id)
    assert resent.document is not None
    assert resent.document.file_id == message.document.file_id


async def test_callback_answer_and_edit(api: FakeBotAPI, bot: Bot) -> None:
    menu = await bot.send_message(USER, "menu", reply_markup=_keyboard())
    query = api.callback_query(USER, "buy:1")["callback_query"]
    assert query["message"]["message_id"] == menu.message_id
    assert await bot.answer_callback_query(query["id"], text="ok")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    edited = await bot.edit_message_text("paid", chat_id=USER, message_id=menu.message_id)
    assert isinstance(edited, Message) and edited.text == "paid" and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("paid", chat_id=USER, message_id=menu.message_id)
    again = await bot.edit_message_text(
        "paid", chat_id=USER, message_id=menu.message_id, reply_markup=_keyboard("again")
    )
    assert isinstance(again, Message)
    assert _dump(again.reply_markup) == _dump(_keyboard("again"))
    assert [m["text"] for m in api.sent_to(USER)] == ["menu", "paid", "paid"]
    incoming = api.message(USER, "my review")["message"]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER, message_id=incoming["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_wait_for_and_on_call(api: FakeBotAPI, bot: Bot) -> None:
    gate = asyncio.Event()
    seen: list[dict[str, Any]] = []

    async def hook(params: dict[str, Any]) -> None:
        seen.append(params)
        await gate.wait()

    api.on_call("getMe", hook)
    call = asyncio.create_task(bot.get_me())
    await api.wait_for("getMe")
    assert seen == [{}]
    assert not call.done()  # the hook holds the response back
    gate.set()
    await call

    api.start_bot(8, 9)
    waiting = asyncio.create_task(api.wait_for("sendMessage", lambda p: p["chat_id"] == 9))
    await bot.send_message(8, "not this one")
    await bot.send_message(9, "this one")
    assert (await waiting)["text"] == "this one"
    assert (await api.wait_for("sendMessage"))["text"] == "not this one"
    with pytest.raises(asyncio.TimeoutError):
        await api.wait_for("sendMessage", lambda p: p["chat_id"] == 10, timeout=0.01)
    with pytest.raises(AssertionError, match="recent calls") as caught:
        await api.wait_for("sendInvoice", timeout=0.01)
    assert isinstance(caught.value, WaitTimeoutError)
    assert "sendMessage" in str(caught.value)


async def test_failing_hook_is_reported_by_stop() -> None:
    api = FakeBotAPI(TOKEN)
    await api.start()
    bot = _bot(api)

    def hook(_: dict[str, Any]) -> None:
        raise RuntimeError("schema missing")

    api.on_call("getMe", hook)
    try:
        with pytest.raises(TelegramServerError):
            await bot.get_me()
    finally:
        await bot.session.close()
    with pytest.raises(AssertionError, match="on_call hook failed"):
        await api.stop()


def test_refuses_non_loopback_and_unknown_method_names() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeBotAPI(host="0.0.0.0")  # noqa: S104 - asserting that it is refused
    api = FakeBotAPI()
    with pytest.raises(ValueError, match="not a Bot API method"):
        api.calls_of("sendTelepathy")
