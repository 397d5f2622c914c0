"""The referral pass: reward the referrers whose referees' first orders have held, then tell
them. Each reward is its own short transaction; the message goes after its commit.

The money worker runs it every round on every replica: a reward is unique per referee, so
replicas racing for one grant it once (the loser's transaction rolls back whole).
"""

from __future__ import annotations

from datetime import datetime

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db.base import utcnow
from app.db.uow import SessionFactory, read, transaction
from app.i18n import translator
from app.services import referral_rewards, referral_terms
from app.services.referral_rewards import Granted

log = structlog.get_logger(__name__)

BATCH = 50


async def grant_rewards(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
) -> list[Granted]:
    """One pass over at most ``batch`` referees, under the terms in force (the owners' or the
    environment's, read once per pass); ``now`` is injectable so that the hold can be tested
    without waiting. It reads the referrals waiting for their reward only: those past the hold
    whose first paid order was refunded are settled without one."""
    now = now or utcnow()
    async with factory() as session, read(session):
        terms = await referral_terms.current(session, referral_terms.defaults(settings))
        done = await referral_rewards.finished(session, now, terms.hold, batch)
        found = await referral_rewards.candidates(session, now, terms.hold, batch, terms.daily_cap)
    if done:
        async with transaction(factory) as session:
            await referral_rewards.settle(session, done, now)
        log.info("referrals settled without a reward", referee_ids=done)
    granted: list[Granted] = []
    for candidate in found:
        try:
            async with transaction(factory) as session:
                reward = await referral_rewards.grant(
                    session,
                    candidate,
                    now=now,
                    percent=terms.reward_percent,
                    daily_cap=terms.daily_cap,
                )
        except IntegrityError:  # another replica granted it first
            log.info("referral reward made elsewhere", referee_id=candidate.referee_id)
            continue
        if reward is None:
            continue
        log.info(
            "referral reward granted",
            reward_id=reward.reward_id,
            referrer_id=reward.referrer_id,
            referee_id=candidate.referee_id,
            order_id=candidate.order_id,
            percent=reward.percent,
        )
        await _tell(bot, reward)
        granted.append(reward)
    return granted


async def _tell(bot: Bot, reward: Granted) -> None:
    """In the referrer's language; a referrer who blocked the bot is no error."""
    t = translator(reward.language)
    try:
        text = t("buyer.referral.rewarded", code=reward.code, percent=reward.percent)
        await bot.send_message(reward.referrer_id, text)
    except TelegramAPIError as exc:
        log.info("could not tell the referrer", referrer_id=reward.referrer_id, error=exc.message)
