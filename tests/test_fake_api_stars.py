"""The fake's Stars ledger through a real aiogram Bot: getStarTransactions, refunds, and
payments whose update never arrived."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import StarTransaction, TransactionPartnerUser

from tests.fake_api import FakeBotAPI

TOKEN = "123456:TEST-token"
USER = 1001


def _bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = _bot(api)
    yield bot
    await bot.session.close()


def _partner(transaction: StarTransaction, side: str) -> TransactionPartnerUser:
    partner = getattr(transaction, side)
    assert isinstance(partner, TransactionPartnerUser), partner
    return partner


async def test_payments_and_refunds_in_telegrams_shapes(api: FakeBotAPI, bot: Bot) -> None:
    update = api.successful_payment(USER, "order:7", 50, "charge-7", language_code="ru")
    api.lost_payment(USER + 1, "order:8", 70, "charge-8")
    assert [u["update_id"] for u in api.updates.pending] == [update["update_id"]]
    assert await bot.refund_star_payment(USER, "charge-7")

    page = await bot.get_star_transactions()
    paid, lost, refund = page.transactions
    assert (paid.id, paid.amount, paid.nanostar_amount, paid.receiver) == (
        "charge-7",
        50,
        None,
        None,
    )
    source = _partner(paid, "source")
    assert (source.transaction_type, source.invoice_payload) == ("invoice_payment", "order:7")
    assert (source.user.id, source.user.language_code) == (USER, "ru")
    assert (lost.id, lost.amount, _partner(lost, "source").user.id) == ("charge-8", 70, USER + 1)
    assert (refund.id, refund.amount, refund.source) == ("charge-7", 50, None)
    receiver = _partner(refund, "receiver")
    assert (receiver.user.id, receiver.invoice_payload) == (USER, "order:7")
    assert paid.date <= lost.date <= refund.date

    raw = api.ledger.transactions[2]
    assert set(raw) == {"id", "date", "receiver", "amount"}  # nanostar_amount only when not 0


async def test_refunds_twice_or_for_someone_else_are_refused(api: FakeBotAPI, bot: Bot) -> None:
    api.successful_payment(USER, "order:1", 50, "charge-1")
    with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
        await bot.refund_star_payment(USER + 1, "charge-1")
    assert await bot.refund_star_payment(USER, "charge-1")
    for _ in range(2):
        with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
            await bot.refund_star_payment(USER, "charge-1")
    api.lost_payment(USER, "order:2", 60, "charge-2")
    api.refund_elsewhere(USER, "charge-2")  # by support, or another process with the token
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, "charge-2")
    assert api.stars_refunds == [{"user_id": USER, "telegram_payment_charge_id": "charge-1"}]
    with pytest.raises(TelegramBadRequest, match="invalid user_id specified"):
        await bot.refund_star_payment(0, "charge-2")
    refunds = [t["id"] for t in api.ledger.transactions if "receiver" in t]
    assert refunds == ["charge-1", "charge-2"]


async def test_a_redelivered_payment_is_one_transaction(api: FakeBotAPI, bot: Bot) -> None:
    first = api.successful_payment(USER, "order:1", 50, "charge-1")
    again = api.successful_payment(USER, "order:1", 50, "charge-1")
    assert first["update_id"] != again["update_id"]
    assert [t.id for t in (await bot.get_star_transactions()).transactions] == ["charge-1"]
    with pytest.raises(ValueError, match="already issued"):
        api.successful_payment(USER + 1, "order:1", 50, "charge-1")


async def test_paging_is_chronological_and_clamps_like_the_bot_api(
    api: FakeBotAPI, bot: Bot
) -> None:
    charges = api.many_payments(250, amount=5)
    assert len(charges) == len(set(charges)) == 250

    async def ids(**params: int) -> list[str]:
        return [t.id for t in (await bot.get_star_transactions(**params)).transactions]

    assert await ids() == charges[:100]  # limit defaults to 100
    assert await ids(offset=100, limit=100) == charges[100:200]
    assert await ids(offset=240, limit=50) == charges[240:]
    assert await ids(offset=250) == []
    # The Bot API server clamps what is out of range instead of refusing it.
    assert await ids(limit=500) == charges[:100]
    assert await ids(limit=0) == charges[:1]
    assert await ids(offset=-5, limit=2) == charges[:2]
    url = f"{api.url}/bot{TOKEN}/getStarTransactions"
    async with aiohttp.ClientSession() as http, http.post(url, data={"limit": "x"}) as resp:
        body = await resp.json()
    assert [t["id"] for t in body["result"]["transactions"]] == charges[:1]


async def test_a_ledger_of_ten_thousand_pages_in_a_hundred_calls(api: FakeBotAPI, bot: Bot) -> None:
    charges = api.many_payments(10_000, amount=10, payload="bench:{n}")
    seen: list[str] = []
    while page := (await bot.get_star_transactions(offset=len(seen), limit=100)).transactions:
        seen += [t.id for t in page]
    assert seen == charges
    assert len(api.calls_of("getStarTransactions")) == 101
    last = api.ledger.transactions[-1]["source"]
    assert last["invoice_payload"] == "bench:9999"
