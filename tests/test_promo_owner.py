"""The owners' promo codes: /promo add|list|disable in the bot (hidden from everyone else) and
``python -m app promo add|list|disable`` on a fresh SQLite database."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.processes import clean_env, url_env
from tests.promo_helpers import shown
from tests.shop_helpers import Customer, seed_category, seed_product

en = translator("en")
STRANGER = 6101


def bad_date(value: str) -> str:
    return en("owner.error.promo_bad_date", value=value, last="9999-12-30")


async def test_owner_adds_lists_and_disables_codes(shop: RunningBot) -> None:
    await seed_category(shop.session_factory, "Game keys")
    await seed_product(shop.session_factory, "Key", 40, slug="key-1")
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)

    await owner.send('/promo add spring 15% scope="category:Game keys" min=100 uses=10 per_user=1')
    assert owner.texts()[-1].startswith("Added: SPRING — 15% · used 0/10 · category:Game keys")
    assert "min 100 ⭐" in owner.texts()[-1] and "1 per buyer" in owner.texts()[-1]
    await owner.send("/promo add TAKE5 5 scope=product:key-1 until=2099-12-31")
    assert (
        "TAKE5 — 5 ⭐ · used 0/∞ · product:key-1 · expires 2100-01-01 00:00 UTC"
        in (owner.texts()[-1])
    )
    await owner.send("/promo add take5 10")
    assert owner.texts()[-2] == shown(en("owner.error.promo_code_taken", promo="TAKE5"))
    assert owner.texts()[-1] == shown(en("owner.promo.usage"))
    for bad, error in [
        ("/promo add X 10%", en("owner.error.promo_bad_code", promo="X", low=3)),
        ("/promo add OKAY 0%", en("owner.error.promo_bad_value", value="0%", max=100_000)),
        ("/promo add OKAY 10 until=tomorrow", bad_date("tomorrow")),
        ("/promo add ABC 10% until=9999-12-31", bad_date("9999-12-31")),  # its next midnight
        ("/promo add OKAY 10 scope=galaxy", en("owner.error.promo_bad_scope", value="galaxy")),
        ("/promo add OKAY 10 uses=0", en("owner.error.promo_bad_number", option="uses", max=10**6)),
        ("/promo add OKAY 10 colour=red", en("owner.error.promo_bad_option", option="colour=red")),
        ("/promo add OKAY 10 scope=product:nope", en("owner.error.unknown_product", slug="nope")),
    ]:
        await owner.send(bad)
        assert owner.texts()[-2] == shown(error), bad

    await owner.send("/promo list")
    listing = owner.texts()[-1]
    assert listing.index("TAKE5") < listing.index("SPRING")  # newest first
    assert "OKAY" not in listing
    await owner.send("/promo disable spring")
    assert owner.texts()[-1] == shown(en("owner.promo.disabled", code="SPRING"))
    await owner.send("/promo disable spring")
    assert owner.texts()[-1] == shown(en("owner.promo.already_disabled", code="SPRING"))
    await owner.send("/promo disable NOPE")
    assert owner.texts()[-2] == shown(en("owner.error.promo_unknown", promo="NOPE"))
    await owner.send("/promo list")
    assert "SPRING — 15%" in owner.texts()[-1] and "disabled" in owner.texts()[-1]
    await owner.send("/promo")
    assert owner.texts()[-1] == shown(en("owner.promo.usage"))


async def test_promo_is_an_unknown_command_for_everyone_else(shop: RunningBot) -> None:
    stranger = Customer(shop.api, shop.tracker, STRANGER)
    for command in ("/promo add FREE 100%", "/promo list", "/promo disable FREE", "/promo"):
        await stranger.send(command)
        assert stranger.texts()[-1] == shown(en("unknown_command")), command
    await stranger.send("/nonsense")
    assert stranger.texts()[-1] == shown(en("unknown_command"))
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/promo list")
    assert owner.texts()[-1] == shown(en("owner.promo.empty"))


async def _cli(url: URL, cwd: Path, *args: str) -> tuple[int, str, str]:
    env = clean_env()
    env.update({"DATABASE_URL": url_env(url), "LOG_FORMAT": "json"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "promo", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    lines = [line for line in out.decode().splitlines() if not line.startswith("{")]
    return process.returncode, "\n".join(lines), err.decode()


async def test_cli_promo_on_a_fresh_sqlite_database(sqlite_url: URL, tmp_path: Path) -> None:
    code, out, err = await _cli(sqlite_url, tmp_path, "add", "save10", "10%", "uses=5", "min=20")
    assert (code, err) == (0, ""), out
    assert out == "added promo code SAVE10: 10% off, scope shop"
    for args, error in [
        (("add", "SAVE10", "5"), "The promo code SAVE10 exists already."),
        (("add", "BAD!", "5"), "A promo code is 3 to 32 characters"),
        (("add", "OKAY", "101%"), "The discount is a percent from 1% to 100%"),
        (("add", "OKAY", "5", "scope=category:Nope"), "There is no such category."),
        (("add", "OKAY", "5", "scope=nowhere"), "scope must be shop, category:<title> or"),
        (("add", "ABC", "10%", "until=9999-12-31"), "until must be a date YYYY-MM-DD (UTC) from"),
        (("disable", "NOPE"), "There is no promo code NOPE."),
    ]:
        code, out, err = await _cli(sqlite_url, tmp_path, *args)
        assert code == 2, (args, out, err)
        assert err.startswith(f"error: {error}"), err
        assert "Traceback" not in out + err
    code, out, err = await _cli(sqlite_url, tmp_path, "add", "take5", "5", "per_user=1")
    assert code == 0, err
    code, out, err = await _cli(sqlite_url, tmp_path, "disable", "Take5")
    assert (code, out) == (0, "disabled promo code TAKE5"), err
    code, out, err = await _cli(sqlite_url, tmp_path, "list")
    assert code == 0, err
    header, _rule, take5, save10 = out.splitlines()
    assert header.split() == [
        "code", "discount", "scope", "min", "expires", "(UTC)", "used", "uses", "per_user",
        "state", "for_user",
    ]  # fmt: skip
    assert take5.split() == ["TAKE5", "5", "⭐", "shop", "0", "-", "0", "-", "1", "disabled", "-"]
    assert save10.split() == ["SAVE10", "10%", "shop", "20", "-", "0", "5", "-", "active", "-"]
    code, out, err = await _cli(sqlite_url, tmp_path, "add")
    assert code == 2 and "usage:" in err and "Traceback" not in err
