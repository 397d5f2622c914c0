"""A referral's first paid order and its settlement, through the real Dispatcher and the fake
Bot API on SQLite and PostgreSQL: the settlement records the referee's first paid order (a
later one changes nothing); the pass leaves it waiting while a refund of it is due, settles it
as forfeited once it is refunded (never rewarded, whatever the referee buys later), and settles
a rewarded one: a settled referral is never read by the pass again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.db.models import Order, Referral, ReferralReward
from app.flows.referrals import grant_rewards
from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.promo_helpers import pay
from tests.shop_helpers import Customer, SessionFactory, buy, orders_of, seed_product
from tests.test_referrals import age_orders, link_of

en = translator("en")
REFERRER, FRIEND, OTHER = 8501, 8502, 8503


async def _referral(factory: SessionFactory, referee: int) -> Referral:
    async with factory() as session:
        referral = await session.get(Referral, referee)
        assert referral is not None
        return referral


async def _first_order(factory: SessionFactory, referee: int) -> tuple[int, datetime]:
    """The referee's order paid first, as the orders say."""
    async with factory() as session:
        row = (
            await session.execute(
                select(Order.id, Order.paid_at)
                .where(Order.user_id == referee, Order.paid_at.is_not(None))
                .order_by(Order.paid_at, Order.id)
                .limit(1)
            )
        ).one()
        return row.id, row.paid_at


async def _rewarded(factory: SessionFactory) -> set[int]:
    async with factory() as session:
        return set(await session.scalars(select(ReferralReward.referee_id)))


async def _purchase(buyer: Customer) -> str:
    await buy(buyer, "Key")
    return await pay(buyer, buyer.invoices()[-1])


async def test_a_refund_due_waits_and_a_refunded_first_order_is_forfeited(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Key", 50, [f"K-{n}" for n in range(4)])
    referrer, friend = (
        Customer(shop.api, shop.tracker, REFERRER),
        Customer(shop.api, shop.tracker, FRIEND),
    )
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await referrer.send("/start")
    await friend.send(f"/start {await link_of(referrer)}")
    assert (await _referral(factory, FRIEND)).first_order_id is None  # not paid yet

    charge = await _purchase(friend)
    [order] = await orders_of(factory, FRIEND)
    referral = await _referral(factory, FRIEND)
    assert (referral.first_order_id, referral.first_paid_at) == (order.id, order.paid_at)
    assert referral.settled_at is None

    shop.api.fail_next("refundStarPayment", 502, "Bad Gateway")
    await owner.send(f"/refund {charge}")  # Telegram did not answer: the refund stays due
    await age_orders(factory, FRIEND, 30)
    assert await grant_rewards(shop.bot, factory, shop.settings) == []  # waits: refund due
    assert (await _referral(factory, FRIEND)).settled_at is None

    await owner.send(f"/refund {charge}")  # refunded now
    assert await grant_rewards(shop.bot, factory, shop.settings) == []
    settled = (await _referral(factory, FRIEND)).settled_at
    assert settled is not None  # forfeited: the pass will not read it again

    await _purchase(friend)  # a later order does not count
    await age_orders(factory, FRIEND, 30)
    assert await grant_rewards(shop.bot, factory, shop.settings) == []
    referral = await _referral(factory, FRIEND)
    assert (referral.first_order_id, referral.settled_at) == (order.id, settled)
    assert await _rewarded(factory) == set()
    assert not any("🎁" in text for text in referrer.texts())


async def test_the_first_paid_order_is_recorded_once_and_a_reward_settles(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Key", 50, [f"K-{n}" for n in range(3)])
    referrer, friend = (
        Customer(shop.api, shop.tracker, REFERRER),
        Customer(shop.api, shop.tracker, OTHER),
    )
    await referrer.send("/start")
    await friend.send(f"/start {await link_of(referrer)}")
    await _purchase(friend)
    first = await _first_order(factory, OTHER)
    await _purchase(friend)  # the second purchase leaves the first recorded
    referral = await _referral(factory, OTHER)
    assert (referral.first_order_id, referral.first_paid_at) == first

    await age_orders(factory, OTHER, 8)
    [granted] = await grant_rewards(shop.bot, factory, shop.settings)
    assert granted.referrer_id == REFERRER
    assert (await _referral(factory, OTHER)).settled_at is not None
    assert await _rewarded(factory) == {OTHER}
    assert await grant_rewards(shop.bot, factory, shop.settings) == []
