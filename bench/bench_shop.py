"""Simulated buyers run the whole purchase flow against the fake Bot API, through real polling.

The bot is a real ``python -m app`` process on PostgreSQL, long-polling the fake Bot API that
this process serves on 127.0.0.1 (as Telegram's servers would, on other hardware). Each buyer,
concurrently with the others: /start → Catalog → the product → Buy (invoice) → pre-checkout →
successful payment (delivery): six updates, each pushed once the bot answered the previous one.
Ten untimed flows warm each bot up first, so the figures are the steady state.
A step's latency runs from the push to the bot's answer (sendMessage, answerCallbackQuery,
answerPreCheckoutQuery, or the delivery message). There are more buyers than keys, so some
are told the product is sold out; the database must show every key sold at most once.

The cart: each buyer adds three products to the cart (1, 2 and 3 units), pays the cart with
one invoice, pre-checks and pays: seven updates, the six keys arriving in one message. The
stock covers five buyers in six; the others read what is short.

``--before DIR`` runs the single-item rounds also against an earlier release's source tree
(e.g. ``git archive <commit> | tar -x -C DIR``, catalogs compiled), on the same database,
alternating with the current code, and prints the ratios: the single-item path may not regress.
Besides the wall clock it reports each bot's own CPU time per update (``/proc/<pid>/stat`` over
the measured flows), which the machine's load moves far less.

The floor: the same harness (same fake API, same polling, same number of users and updates)
driving a bare aiogram echo bot process with no database (bench/bare_bot.py). Runs alternate
shop, echo, shop, echo, … and medians are reported.

    .venv/bin/python bench/bench_shop.py [--rounds 5] [--buyers 60] [--keys 50] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    BOT_TOKEN,
    REPO_ROOT,
    FakeBotAPI,
    bot_env,
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    machine_note,
    start_bot,
)
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from app.db.engine import create_engine, create_session_factory
from app.db.models import Order, OrderStatus, StockItem
from app.keyboards.buyer import BuyCb, CartAddCb, CartCb, MenuCb, ProductCb
from tests.harness import migrated
from tests.shop_helpers import seed_product

JSON = dict[str, Any]
STEPS = 6  # updates per user
PRICE = 10
WARM_UP = 10  # users whose flows run first, untimed: steady state, not first-use costs
ANSWERS = ("sendMessage", "answerCallbackQuery", "answerPreCheckoutQuery")


class Answers:
    """Resolves each user's pending step when the bot answers it (one step at a time per user)."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.pending: dict[int, tuple[str, asyncio.Future[JSON]]] = {}
        self.query_user: dict[str, int] = {}
        self.latencies: list[float] = []
        self.payments: list[float] = []  # from successful_payment to the key sent
        for method in ANSWERS:
            api.on_call(method, lambda params, m=method: self._seen(m, params))

    def _seen(self, method: str, params: JSON) -> None:
        if method == "sendMessage":
            user = int(params["chat_id"])
        else:
            key = (
                "callback_query_id" if method == "answerCallbackQuery" else "pre_checkout_query_id"
            )
            user = self.query_user.get(str(params[key]), 0)
        waiting = self.pending.get(user)
        if waiting and waiting[0] == method and not waiting[1].done():
            waiting[1].set_result(params)

    async def step(self, user: int, expect: str, update: JSON) -> JSON:
        for kind in ("callback_query", "pre_checkout_query"):
            if kind in update:
                self.query_user[str(update[kind]["id"])] = user
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self.pending[user] = (expect, future)
        started = time.perf_counter()
        self.api.push_update(update)
        async with asyncio.timeout(60):
            answer = await future
        self.latencies.append(time.perf_counter() - started)
        return answer


async def buyer(api: FakeBotAPI, answers: Answers, user: int, product_id: int) -> bool:
    """Six updates; True if the buyer paid and got a key."""
    msg, cb = api.build_message, api.build_callback_query
    await answers.step(user, "sendMessage", msg(user, "/start"))
    await answers.step(user, "answerCallbackQuery", cb(user, MenuCb(action="catalog").pack()))
    await answers.step(user, "answerCallbackQuery", cb(user, ProductCb(id=product_id).pack()))
    invoices = len([p for p in api.calls_of("sendInvoice") if p["chat_id"] == user])
    await answers.step(user, "answerCallbackQuery", cb(user, BuyCb(product=product_id).pack()))
    sent = [p for p in api.calls_of("sendInvoice") if p["chat_id"] == user]
    if len(sent) == invoices:  # sold out: two more ordinary steps keep the update count equal
        await answers.step(user, "sendMessage", msg(user, "/start"))
        await answers.step(user, "answerCallbackQuery", cb(user, MenuCb(action="main").pack()))
        return False
    payload, amount = sent[-1]["payload"], int(sent[-1]["prices"][0]["amount"])
    verdict = await answers.step(
        user, "answerPreCheckoutQuery", api.build_pre_checkout_query(user, payload, amount)
    )
    assert verdict["ok"] in (True, "true"), verdict
    payment = api.build_successful_payment(user, payload, amount, f"charge-{user}")
    started = time.perf_counter()
    delivery = await answers.step(user, "sendMessage", payment)
    answers.payments.append(time.perf_counter() - started)
    assert "KEY-" in delivery["text"]
    return True


CART_LINES = (1, 2, 3)  # units of each of the cart's three products


async def cart_buyer(api: FakeBotAPI, answers: Answers, user: int, products: list[int]) -> bool:
    """Seven updates; True if the buyer paid the cart and got its six keys in one message."""
    msg, cb = api.build_message, api.build_callback_query
    await answers.step(user, "sendMessage", msg(user, "/start"))
    for product, qty in zip(products, CART_LINES, strict=True):
        add = CartAddCb(product=product, qty=qty).pack()
        await answers.step(user, "answerCallbackQuery", cb(user, add))
    invoices = len([p for p in api.calls_of("sendInvoice") if p["chat_id"] == user])
    await answers.step(user, "answerCallbackQuery", cb(user, CartCb(action="pay").pack()))
    sent = [p for p in api.calls_of("sendInvoice") if p["chat_id"] == user]
    if len(sent) == invoices:  # short: two more ordinary steps keep the update count equal
        await answers.step(user, "sendMessage", msg(user, "/start"))
        await answers.step(user, "answerCallbackQuery", cb(user, MenuCb(action="main").pack()))
        return False
    payload, amount = sent[-1]["payload"], int(sent[-1]["prices"][0]["amount"])
    verdict = await answers.step(
        user, "answerPreCheckoutQuery", api.build_pre_checkout_query(user, payload, amount)
    )
    assert verdict["ok"] in (True, "true"), verdict
    payment = api.build_successful_payment(user, payload, amount, f"charge-{user}")
    started = time.perf_counter()
    delivery = await answers.step(user, "sendMessage", payment)
    answers.payments.append(time.perf_counter() - started)
    assert delivery["text"].count("CART-") == sum(CART_LINES), delivery["text"]
    return True


async def _echo_user(api: FakeBotAPI, answers: Answers, user: int) -> None:
    for step in range(STEPS):
        await answers.step(user, "sendMessage", api.build_message(user, f"hello {step}"))


async def _until_polling(api: FakeBotAPI) -> None:
    await api.wait_for("getUpdates", timeout=120)


async def cart_round(url: URL, cwd: Path, round_no: int, buyers: int, keys: int) -> JSON:
    engine = create_engine(url)
    factory = create_session_factory(engine)
    products = [
        await seed_product(
            factory,
            f"Cart {round_no}-{line}",
            PRICE,
            [f"CART-{round_no}-{line}-{n:05d}" for n in range(keys * qty)],
        )
        for line, qty in enumerate(CART_LINES)
    ]
    warm = [
        await seed_product(
            factory,
            f"Cart warm-up {round_no}-{line}",
            PRICE,
            [f"CART-warm-{round_no}-{line}-{n}" for n in range(WARM_UP * qty)],
        )
        for line, qty in enumerate(CART_LINES)
    ]
    async with FakeBotAPI(BOT_TOKEN) as api:
        answers = Answers(api)
        bot = await start_bot(bot_env(url, api.url, LOG_LEVEL="WARNING"), cwd=cwd)
        try:
            await _until_polling(api)
            early = [100_000 * round_no + 70_000 + n for n in range(WARM_UP)]
            await asyncio.gather(*(cart_buyer(api, answers, u, warm) for u in early))
            answers.latencies.clear()
            answers.payments.clear()
            users = [100_000 * round_no + 50_000 + n for n in range(buyers)]
            cpu = cpu_seconds(bot.process.pid)
            started = time.perf_counter()
            bought = await asyncio.gather(*(cart_buyer(api, answers, u, products) for u in users))
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(bot.process.pid) - cpu
        finally:
            await bot.stop()
    async with factory() as session:
        sold = await session.scalar(
            select(func.count()).where(
                StockItem.product_id.in_(products), StockItem.status == "sold"
            )
        )
    await engine.dispose()
    assert sold == sum(bought) * sum(CART_LINES), (sold, sum(bought))
    payments = sorted(answers.payments)
    return summary(answers.latencies, elapsed, cpu) | {
        "payment_p50_ms": statistics.median(payments) * 1000,
        "payment_p95_ms": payments[int(0.95 * (len(payments) - 1))] * 1000,
        "purchases_per_s": sum(bought) / elapsed,
    }


async def shop_round(url: URL, cwd: Path, round_no: int, buyers: int, keys: int) -> JSON:
    engine = create_engine(url)
    factory = create_session_factory(engine)
    keys_list = [f"KEY-{round_no}-{n:05d}" for n in range(keys)]
    product_id = await seed_product(factory, f"Bench key {round_no}", PRICE, keys_list)
    warm_keys = [f"KEY-warm-{round_no}-{n}" for n in range(WARM_UP)]
    warm_id = await seed_product(factory, f"Warm-up {round_no}", PRICE, warm_keys)
    async with FakeBotAPI(BOT_TOKEN) as api:
        answers = Answers(api)
        bot = await start_bot(bot_env(url, api.url, LOG_LEVEL="WARNING"), cwd=cwd)
        try:
            await _until_polling(api)
            warm = [100_000 * round_no + 90_000 + n for n in range(WARM_UP)]
            await asyncio.gather(*(buyer(api, answers, u, warm_id) for u in warm))
            answers.latencies.clear()
            answers.payments.clear()
            users = [100_000 * round_no + n for n in range(buyers)]
            first_call = len(api.calls)
            cpu = cpu_seconds(bot.process.pid)
            started = time.perf_counter()
            bought = await asyncio.gather(*(buyer(api, answers, u, product_id) for u in users))
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(bot.process.pid) - cpu
            calls = [c for c in api.calls[first_call:] if c.method != "getUpdates"]
        finally:
            await bot.stop()
    async with factory() as session:
        sold = await session.scalar(
            select(func.count()).where(
                StockItem.product_id == product_id, StockItem.status == "sold"
            )
        )
        paid = select(Order).where(
            Order.product_id == product_id, Order.status == OrderStatus.DELIVERED.value
        )  # each of them sent: the bot answered with the key
        orders = await session.scalar(select(func.count()).select_from(paid.subquery()))
        distinct_items = await session.scalar(
            select(func.count(func.distinct(paid.subquery().c.stock_item_id)))
        )
    await engine.dispose()
    assert sum(bought) == min(buyers, keys) == sold == orders, (sum(bought), sold, orders)
    payments = sorted(answers.payments)
    return summary(answers.latencies, elapsed, cpu) | {
        "payment_p50_ms": statistics.median(payments) * 1000,
        "payment_p95_ms": payments[int(0.95 * (len(payments) - 1))] * 1000,
        "purchases_per_s": sum(bought) / elapsed,
        "oversold": (orders or 0) - (distinct_items or 0),
        "calls_per_update": len(calls) / len(answers.latencies),  # Bot API calls but getUpdates
    }


async def echo_round(cwd: Path, users: int) -> JSON:
    async with FakeBotAPI(BOT_TOKEN) as api:
        answers = Answers(api)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO_ROOT / "bench" / "bare_bot.py"),
            cwd=cwd,
            env=bot_env(None, api.url),
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await _until_polling(api)
            await asyncio.gather(*(_echo_user(api, answers, 800_000 + n) for n in range(WARM_UP)))
            answers.latencies.clear()
            cpu = cpu_seconds(process.pid)
            started = time.perf_counter()
            await asyncio.gather(*(_echo_user(api, answers, 900_000 + n) for n in range(users)))
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(process.pid) - cpu
        finally:
            process.terminate()
            await process.wait()
    return summary(answers.latencies, elapsed, cpu)


def summary(latencies: list[float], elapsed: float, cpu: float) -> JSON:
    """Throughput and latencies, and the bot process's own CPU time per update (the machine's
    load stretches the wall clock far more than it changes what one update costs the bot)."""
    ordered = sorted(latencies)
    return {
        "updates_per_s": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "cpu_ms": cpu / len(ordered) * 1000,
    }


def _median(runs: list[JSON], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def _percentiles(runs: list[JSON]) -> str:
    return f"p50 {_median(runs, 'p50_ms'):6.1f} ms   p95 {_median(runs, 'p95_ms'):6.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--buyers", type=int, default=60)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--before", type=Path, help="an earlier release's source tree")
    args = parser.parse_args()
    url = await create_pg_database()
    await migrated(url)
    shop: list[JSON] = []
    before: list[JSON] = []
    carts: list[JSON] = []
    echo: list[JSON] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for round_no in range(1, args.rounds + 1):
                n, k = args.buyers, args.keys
                if args.before is not None:  # the earlier release, on the same schema
                    before.append(await shop_round(url, args.before, 100 + round_no, n, k))
                shop.append(await shop_round(url, Path(scratch), round_no, n, k))
                carts.append(await cart_round(url, Path(scratch), round_no, n, k * 5 // 6))
                echo.append(await echo_round(Path(scratch), args.buyers))
    finally:
        await drop_pg_database(url)
    report(args, shop, carts, before, echo)


def report(
    args: argparse.Namespace,
    shop: list[JSON],
    carts: list[JSON],
    before: list[JSON],
    echo: list[JSON],
) -> None:
    s_ups, e_ups = _median(shop, "updates_per_s"), _median(echo, "updates_per_s")
    print(
        f"shop under load: {args.buyers} concurrent buyers ({STEPS} updates each), {args.keys} "
        f"keys, real polling, PostgreSQL, {args.rounds} rounds ({machine_note()})"
    )
    print(f"  shop  updates/s    median {s_ups:8.1f}")
    print(f"  shop  purchases/s  median {_median(shop, 'purchases_per_s'):8.1f}")
    print(f"  shop  per update   {_percentiles(shop)}")
    print(f"  shop  bot CPU      {_median(shop, 'cpu_ms'):8.2f} ms per update")
    calls = _median(shop, "calls_per_update")
    print(f"  shop  API calls    {calls:8.2f} per update (but getUpdates)")
    print(
        f"  shop  payment      p50 {_median(shop, 'payment_p50_ms'):6.1f} ms   "
        f"p95 {_median(shop, 'payment_p95_ms'):6.1f} ms   (successful_payment to the key sent)"
    )
    print(f"  cart  updates/s    median {_median(carts, 'updates_per_s'):8.1f}   (7 updates each)")
    print(f"  cart  purchases/s  median {_median(carts, 'purchases_per_s'):8.1f}   (6 units each)")
    print(f"  cart  per update   {_percentiles(carts)}")
    print(f"  cart  bot CPU      {_median(carts, 'cpu_ms'):8.2f} ms per update")
    print(
        f"  cart  payment      p50 {_median(carts, 'payment_p50_ms'):6.1f} ms   "
        f"p95 {_median(carts, 'payment_p95_ms'):6.1f} ms   (successful_payment to the 6 keys)"
    )
    if before:
        b_ups = _median(before, "updates_per_s")
        print(f"  before updates/s   median {b_ups:8.1f}   ({args.before}, single item)")
        print(f"  before per update  {_percentiles(before)}")
        print(f"  before bot CPU     {_median(before, 'cpu_ms'):8.2f} ms per update")
        print(f"  before API calls   {_median(before, 'calls_per_update'):8.2f} per update")
        print(
            f"  before payment     p50 {_median(before, 'payment_p50_ms'):6.1f} ms   "
            f"p95 {_median(before, 'payment_p95_ms'):6.1f} ms"
        )
        print(
            f"  shop/before updates/s = {s_ups / b_ups:.3f}   payment p50 now/before = "
            f"{_median(shop, 'payment_p50_ms') / _median(before, 'payment_p50_ms'):.3f}"
            "   (target: updates/s ratio >= 0.9)"
        )
        print(
            "  shop/before bot CPU per update = "
            f"{_median(shop, 'cpu_ms') / _median(before, 'cpu_ms'):.3f}   (the same target: <= 1.1)"
        )
    print(f"  echo  updates/s    median {e_ups:8.1f}   (bare aiogram echo bot, no database)")
    print(f"  echo  per update   {_percentiles(echo)}")
    print(f"  echo  bot CPU      {_median(echo, 'cpu_ms'):8.2f} ms per update")
    print(f"  shop/echo updates/s = {s_ups / e_ups:.3f}   (target >= 0.38)")
    print(f"  oversold items: {int(sum(run['oversold'] for run in shop))}")


if __name__ == "__main__":
    asyncio.run(main())
