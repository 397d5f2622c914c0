"""Referrals through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL: the
link, the tie made at a new user's first /start only, and the reward granted by the pass once
the first paid order has held, never for a refund, never twice, at most the daily cap."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.engine import create_engine, create_session_factory
from app.db.models import Order, Referral, ReferralReward
from app.flows.referrals import grant_rewards
from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.promo_helpers import apply_code, pay, shown
from tests.shop_helpers import Customer, SessionFactory, buy, seed_product

en = translator("en")
REFERRER, FRIEND, OTHER, LATE = 8101, 8102, 8103, 8104
LINK_RE = re.compile(r"https://t\.me/fake_shop_bot\?start=(ref_[A-Za-z0-9_-]+)")


def customer(shop: RunningBot, user_id: int) -> Customer:
    return Customer(shop.api, shop.tracker, user_id)


async def link_of(buyer: Customer) -> str:
    """The start parameter of the buyer's referral link, from /referrals."""
    await buyer.send("/referrals")
    found = LINK_RE.search(buyer.texts()[-1])
    assert found, buyer.texts()[-1]
    return found.group(1)


async def referrer_of(factory: SessionFactory, user_id: int) -> int | None:
    async with factory() as session:
        return await session.scalar(
            select(Referral.referrer_id).where(Referral.referee_id == user_id)
        )


async def rewards(factory: SessionFactory) -> list[ReferralReward]:
    async with factory() as session:
        return list(await session.scalars(select(ReferralReward).order_by(ReferralReward.id)))


async def age_orders(factory: SessionFactory, user_id: int, days: float) -> None:
    """Move the user's payments into the past, as if ``days`` went by (their referral's first
    paid order with them)."""
    paid_at = utcnow() - timedelta(days=days)
    async with factory() as session:
        await session.execute(
            update(Order)
            .where(Order.user_id == user_id, Order.paid_at.is_not(None))
            .values(paid_at=paid_at)
        )
        await session.execute(
            update(Referral)
            .where(Referral.referee_id == user_id, Referral.first_paid_at.is_not(None))
            .values(first_paid_at=paid_at)
        )
        await session.commit()


async def test_a_new_user_is_tied_once_at_the_first_start(shop: RunningBot) -> None:
    referrer, friend = customer(shop, REFERRER), customer(shop, FRIEND)
    other = customer(shop, OTHER)
    await referrer.send("/start")
    link = await link_of(referrer)
    assert await link_of(referrer) == link  # stable
    assert shown(en("buyer.referral.brought", n=0)) in referrer.texts()[-1]

    await referrer.send(f"/start {link}")  # one's own link ties nobody
    assert await referrer_of(shop.session_factory, REFERRER) is None
    await friend.send(f"/start {link}")
    assert await referrer_of(shop.session_factory, FRIEND) == REFERRER
    # A second start, through another link, changes nothing.
    await other.send("/start")
    other_link = await link_of(other)
    await friend.send(f"/start {other_link}")
    assert await referrer_of(shop.session_factory, FRIEND) == REFERRER
    # A user known before (here: /start without a link first) is never tied later.
    await other.send(f"/start {link}")
    assert await referrer_of(shop.session_factory, OTHER) is None
    await friend.send("/start ref_no-such-code")
    assert shown(en("buyer.referral.brought", n=1)) in (await _screen(referrer))


async def test_the_menu_opens_the_referral_screen(shop: RunningBot) -> None:
    referrer = customer(shop, REFERRER)
    await referrer.send("/start")
    await referrer.press(en("buyer.menu.referrals"))
    screen = referrer.screen()
    assert LINK_RE.search(screen["text"]) and screen["text"] == await _screen(referrer)
    await referrer.press(en("buyer.menu.back_to_menu"))  # on the menu's screen, edited back
    assert referrer.screen()["text"] == shown(en("buyer.menu.title"))


async def _screen(buyer: Customer) -> str:
    await buyer.send("/referrals")
    return buyer.texts()[-1]


@pytest.mark.settings(referral_hold_days=7, referral_reward_percent=20, referral_daily_cap=5)
async def test_the_reward_comes_after_the_hold_and_never_for_a_refund(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 50, [f"K-{n}" for n in range(6)])
    referrer, friend = customer(shop, REFERRER), customer(shop, FRIEND)
    refunded, stranger = customer(shop, OTHER), customer(shop, LATE)
    owner = customer(shop, ADMIN_ID)
    await referrer.send("/start")
    link = await link_of(referrer)
    await friend.send(f"/start {link}")
    await refunded.send(f"/start {link}")

    await buy(friend, "Key")
    await pay(friend, friend.invoices()[-1])
    await buy(refunded, "Key")
    charge = await pay(refunded, refunded.invoices()[-1])
    await owner.send(f"/refund {charge}")

    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []  # too soon
    await age_orders(shop.session_factory, FRIEND, 6.9)
    await age_orders(shop.session_factory, OTHER, 8)
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []
    await age_orders(shop.session_factory, FRIEND, 7.1)
    [granted] = await grant_rewards(shop.bot, shop.session_factory, shop.settings)
    assert granted.referrer_id == REFERRER and granted.percent == 20
    assert referrer.texts()[-1] == shown(
        en("buyer.referral.rewarded", code=granted.code, percent=20)
    )
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []  # once
    [reward] = await rewards(shop.session_factory)
    assert reward.referee_id == FRIEND  # the refunded referee earned nothing
    # A second purchase by the same friend earns nothing more.
    await buy(friend, "Key")
    await pay(friend, friend.invoices()[-1])
    await age_orders(shop.session_factory, FRIEND, 30)
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []

    screen = await _screen(referrer)
    assert shown(en("buyer.referral.reward_unused", code=granted.code, percent=20)) in screen
    full = await apply_code(stranger, "Key", granted.code)  # the referrer's alone
    assert full is not None and full["prices"][0]["amount"] == 50
    refused = en("buyer.promo.unknown", code=granted.code)
    assert stranger.texts()[-2] == shown(refused + "\n" + en("buyer.promo.full_price", amount=50))
    invoice = await apply_code(referrer, "Key", granted.code)
    assert invoice is not None and invoice["prices"][0]["amount"] == 40
    await pay(referrer, invoice)
    screen = await _screen(referrer)
    assert shown(en("buyer.referral.reward_used", code=granted.code, percent=20)) in screen


@pytest.mark.settings(referral_daily_cap=1)
async def test_rewards_per_referrer_per_day_are_capped(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 50, ["K-1", "K-2"])
    referrer = customer(shop, REFERRER)
    await referrer.send("/start")
    link = await link_of(referrer)
    shop.api.block_user(REFERRER)  # the message is lost; the reward is not
    for user_id in (FRIEND, OTHER):
        friend = customer(shop, user_id)
        await friend.send(f"/start {link}")
        await buy(friend, "Key")
        await pay(friend, friend.invoices()[-1])
        await age_orders(shop.session_factory, user_id, 8)
    assert len(await grant_rewards(shop.bot, shop.session_factory, shop.settings)) == 1
    assert len(await rewards(shop.session_factory)) == 1
    tomorrow = utcnow() + timedelta(days=1)
    later = await grant_rewards(shop.bot, shop.session_factory, shop.settings, now=tomorrow)
    assert len(later) == 1
    assert {r.referee_id for r in await rewards(shop.session_factory)} == {FRIEND, OTHER}


async def test_two_replicas_granting_at_once_grant_once(shop: RunningBot) -> None:
    """Two passes at once (two replicas' workers, each with its own sessions): one reward."""
    await seed_product(shop.session_factory, "Key", 50, ["K-1"])
    referrer, friend = customer(shop, REFERRER), customer(shop, FRIEND)
    await referrer.send("/start")
    await friend.send(f"/start {await link_of(referrer)}")
    await buy(friend, "Key")
    await pay(friend, friend.invoices()[-1])
    await age_orders(shop.session_factory, FRIEND, 8)
    engine = create_engine(shop.settings.database_url)
    other_replica = create_session_factory(engine)
    try:
        both = await asyncio.gather(
            grant_rewards(shop.bot, shop.session_factory, shop.settings),
            grant_rewards(shop.bot, other_replica, shop.settings),
        )
    finally:
        await engine.dispose()
    assert sorted(len(granted) for granted in both) == [0, 1]
    assert len(await rewards(shop.session_factory)) == 1
    rewarded = [text for text in referrer.texts() if "🎁" in text]
    assert len(rewarded) == 1


async def test_referrals_as_a_users_very_first_update(shop: RunningBot) -> None:
    """No /start before: the user's row is made with the link, and they are nobody's referee."""
    newcomer = customer(shop, LATE)
    link = await link_of(newcomer)
    assert shown(en("buyer.referral.brought", n=0)) in newcomer.texts()[-1]
    assert await link_of(newcomer) == link
    assert await referrer_of(shop.session_factory, LATE) is None


async def _referee_paid(shop: RunningBot, link: str, user_id: int, days: float) -> None:
    friend = customer(shop, user_id)
    await friend.send(f"/start {link}")
    await buy(friend, "Key")
    await pay(friend, friend.invoices()[-1])
    await age_orders(shop.session_factory, user_id, days)


@pytest.mark.settings(referral_daily_cap=1)
async def test_a_referrer_at_the_cap_takes_no_place_in_the_batch(shop: RunningBot) -> None:
    """A has three referees waiting (the oldest), B one; a batch of two and a cap of one: B is
    rewarded in the same pass as A, and A's backlog waits for the next days."""
    await seed_product(shop.session_factory, "Key", 50, [f"K-{n}" for n in range(4)])
    first, second = customer(shop, REFERRER), customer(shop, OTHER)
    await first.send("/start")
    await second.send("/start")
    first_link, second_link = await link_of(first), await link_of(second)
    for n in range(3):
        await _referee_paid(shop, first_link, 8200 + n, 10 + n)
    await _referee_paid(shop, second_link, 8300, 8)

    granted = await grant_rewards(shop.bot, shop.session_factory, shop.settings, batch=2)
    assert sorted(g.referrer_id for g in granted) == [REFERRER, OTHER]
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings, batch=2) == []
    tomorrow = utcnow() + timedelta(days=1)
    later = await grant_rewards(shop.bot, shop.session_factory, shop.settings, now=tomorrow)
    assert [g.referrer_id for g in later] == [REFERRER]
    assert len(await rewards(shop.session_factory)) == 3


async def test_a_banned_referrers_rewards_wait_for_the_unban(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 50, ["K-1", "K-2"])
    banned, other = customer(shop, REFERRER), customer(shop, OTHER)
    owner = customer(shop, ADMIN_ID)
    await banned.send("/start")
    await other.send("/start")
    banned_link, other_link = await link_of(banned), await link_of(other)
    await _referee_paid(shop, banned_link, FRIEND, 10)  # the older: first in line
    await _referee_paid(shop, other_link, LATE, 8)
    await owner.send(f"/ban {REFERRER}")
    told = len(banned.texts())

    [granted] = await grant_rewards(shop.bot, shop.session_factory, shop.settings, batch=1)
    assert granted.referrer_id == OTHER  # the banned one's referee took no place
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []
    assert len(banned.texts()) == told  # no reward, no message
    await owner.send(f"/unban {REFERRER}")
    [granted] = await grant_rewards(shop.bot, shop.session_factory, shop.settings)
    assert granted.referrer_id == REFERRER
    assert banned.texts()[-1] == shown(
        en("buyer.referral.rewarded", code=granted.code, percent=granted.percent)
    )
