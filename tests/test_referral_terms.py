"""The referral terms the owners set: /referral in the bot (an unknown command for anyone
else), ``python -m app referral`` on a fresh database (SQLite and PostgreSQL), and the reward
pass and /referrals using them at once, without a restart, the environment's values before."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from app.flows.referrals import grant_rewards
from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.processes import clean_env, url_env
from tests.promo_helpers import shown
from tests.shop_helpers import Customer, seed_product
from tests.test_referrals import _referee_paid, _screen, link_of

en = translator("en")
REFERRER, STRANGER = 8401, 8402
ENVIRONMENT = {"REFERRAL_REWARD_PERCENT": "12", "REFERRAL_HOLD_DAYS": "7"}


def how(percent: int, days: str) -> str:
    return shown(en("buyer.referral.how", percent=percent, days=days))


def terms(percent: str, hold: str, cap: str, owner_set: set[str]) -> str:
    """/referral's text of the terms."""
    lines = [en("owner.referral.title")]
    for name, value, variable in (
        ("percent", percent, "REFERRAL_REWARD_PERCENT"),
        ("hold", hold, "REFERRAL_HOLD_DAYS"),
        ("cap", cap, "REFERRAL_DAILY_CAP"),
    ):
        if name in owner_set:
            source = en("owner.referral.set_by_owner")
        else:
            source = en("owner.referral.environment", variable=variable)
        lines.append(en(f"owner.referral.{name}", value=value, source=source))
    return shown("\n".join(lines))


def out_of_range(term: str, value: str, low: str, high: str) -> str:
    return en("owner.error.referral_bad_value", term=term, value=value, low=low, high=high)


@pytest.mark.settings(referral_reward_percent=10, referral_hold_days=7, referral_daily_cap=5)
async def test_owner_sets_the_terms_and_the_pass_and_referrals_use_them(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 50, ["K-1", "K-2", "K-3"])
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    referrer = Customer(shop.api, shop.tracker, REFERRER)
    await owner.send("/referral")
    assert owner.texts()[-2] == terms("10", "7", "5", set())
    assert owner.texts()[-1] == shown(en("owner.referral.usage"))
    await referrer.send("/start")
    link = await link_of(referrer)
    assert how(10, "7") in referrer.texts()[-1]
    for user_id in (8411, 8412):  # paid two days ago: too soon for the environment's 7 days
        await _referee_paid(shop, link, user_id, 2)
    assert await grant_rewards(shop.bot, shop.session_factory, shop.settings) == []

    for bad, error in [
        ("/referral set percent 0", out_of_range("percent", "0", "1", "100")),
        ("/referral set hold -1", out_of_range("hold", "-1", "0", "365")),
        ("/referral set cap 2.5", out_of_range("cap", "2.5", "1", "1000")),
        ("/referral set colour 5", en("owner.error.referral_bad_term", term="colour")),
    ]:
        await owner.send(bad)
        assert owner.texts()[-2:] == [shown(error), shown(en("owner.referral.usage"))], bad
    for wrong in ("/referral set percent", "/referral show", "/referral set hold 1 2"):
        await owner.send(wrong)
        assert owner.texts()[-1] == shown(en("owner.referral.usage")), wrong
    await owner.send("/referral set percent 25")
    await owner.send("/referral set hold 1.5")
    await owner.send("/referral set cap 1")
    saved = (
        shown(en("owner.referral.saved"))
        + "\n\n"
        + terms("25", "1.5", "1", {"percent", "hold", "cap"})
    )
    assert owner.texts()[-1] == saved  # fmt: skip

    assert how(25, "1.5") in await _screen(referrer)
    [granted] = await grant_rewards(shop.bot, shop.session_factory, shop.settings)
    assert (granted.referrer_id, granted.percent) == (REFERRER, 25)  # and one only: the cap
    assert referrer.texts()[-1] == shown(
        en("buyer.referral.rewarded", code=granted.code, percent=25)
    )
    await owner.send("/referral set percent default")
    assert terms("10", "1.5", "1", {"hold", "cap"}) in owner.texts()[-1]
    assert how(10, "1.5") in await _screen(referrer)


async def test_referral_is_an_unknown_command_for_everyone_else(shop: RunningBot) -> None:
    stranger = Customer(shop.api, shop.tracker, STRANGER)
    for command in ("/referral", "/referral set percent 90", "/referral set cap default"):
        await stranger.send(command)
        assert stranger.texts()[-1] == shown(en("unknown_command")), command
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/referral")
    assert "90" not in owner.texts()[-2]


async def _cli(url: URL, cwd: Path, *args: str, **extra: str) -> tuple[int, str, str]:
    env = clean_env()
    for name in ("REFERRAL_REWARD_PERCENT", "REFERRAL_HOLD_DAYS", "REFERRAL_DAILY_CAP"):
        env.pop(name, None)
    env.update({"DATABASE_URL": url_env(url), "LOG_FORMAT": "json", **extra})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "referral", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    lines = [line for line in out.decode().splitlines() if not line.startswith("{")]
    return process.returncode, "\n".join(lines), err.decode()


def _rows(out: str) -> list[list[str]]:
    header, rule, *rows = out.splitlines()
    assert header.split() == ["term", "value", "from"] and set(rule) <= {"-", " "}
    return [row.split(maxsplit=2) for row in rows]


async def test_cli_referral_on_a_fresh_database(db_url: URL, tmp_path: Path) -> None:
    url = db_url  # SQLite and PostgreSQL, not migrated: the first command migrates
    code, out, err = await _cli(url, tmp_path, "show", **ENVIRONMENT)
    assert (code, err) == (0, ""), out
    assert _rows(out) == [
        ["percent", "12", "environment (REFERRAL_REWARD_PERCENT)"],
        ["hold", "7", "environment (REFERRAL_HOLD_DAYS)"],
        ["cap", "5", "environment (REFERRAL_DAILY_CAP)"],
    ]
    code, out, err = await _cli(url, tmp_path, "set", "percent", "20")
    assert (code, out, err) == (0, "referral percent set to 20", "")
    code, out, err = await _cli(url, tmp_path, "set", "HOLD", "0,5")
    assert (code, out, err) == (0, "referral hold set to 0.5", "")
    for args, error in [
        (("set", "percent", "101"), "percent must be from 1 to 100 (got “101”)."),
        (("set", "cap", "many"), "cap must be from 1 to 1000 (got “many”)."),
        (("set", "hold", "nan"), "hold must be from 0 to 365 (got “nan”)."),
        (("set", "colour", "1"), "There is no referral term “colour”: use percent, hold or cap."),
    ]:
        code, out, err = await _cli(url, tmp_path, *args)
        assert (code, out, err) == (2, "", f"error: {error}\n"), args
    code, out, err = await _cli(url, tmp_path, "set", "percent")
    assert code == 2 and "usage:" in err and "Traceback" not in err
    code, out, err = await _cli(url, tmp_path, "show", REFERRAL_DAILY_CAP="0")
    assert (code, out, err) == (2, "", "")  # the one log line names the variable
    code, out, err = await _cli(url, tmp_path, "show", **ENVIRONMENT)
    assert _rows(out) == [
        ["percent", "20", "set"],
        ["hold", "0.5", "set"],
        ["cap", "5", "environment (REFERRAL_DAILY_CAP)"],
    ]
    code, out, err = await _cli(url, tmp_path, "set", "percent", "default", **ENVIRONMENT)
    assert (code, out) == (
        0,
        "referral percent is the environment's again (REFERRAL_REWARD_PERCENT): 12",
    )


async def test_a_term_set_from_the_cli_applies_to_the_running_bot(
    shop: RunningBot, tmp_path: Path
) -> None:
    referrer = Customer(shop.api, shop.tracker, REFERRER)
    await referrer.send("/start")
    assert how(shop.settings.referral_reward_percent, "7") in await _screen(referrer)
    code, _out, err = await _cli(shop.settings.database_url, tmp_path, "set", "percent", "33")
    assert code == 0, err
    assert how(33, "7") in await _screen(referrer)
