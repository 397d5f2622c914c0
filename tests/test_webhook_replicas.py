"""Three webhook replicas as real processes behind a (simulated) round-robin load balancer.

One ``python -m app --webhook`` (migrates, then setWebhook) and two ``--webhook --no-migrate``,
started together against a fresh PostgreSQL database, sharing FSM state through a real Redis.
The replicas are started once for this module (process starts are slow on a small machine);
the tests run in file order and the last one stops a replica with SIGTERM mid-burst.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bot.webhook_handler import MAX_BODY
from app.db.engine import create_engine, create_session_factory
from app.db.models import Category, ItemStatus, Order, OrderStatus, Product, StockItem
from app.i18n import translator
from app.keyboards.buyer import BuyCb
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, create_pg_database, drop_pg_database
from tests.processes import BotProcess, bot_env, start_bot
from tests.schema import head
from tests.shop_helpers import invoice_amount, seed_product
from tests.test_webhook import (
    SECRET,
    WEBHOOK_URL,
    health,
    post,
    until,
    wait_healthy,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
JSON = dict[str, Any]
en = translator("en")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _redis_or_skip() -> aioredis.Redis:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        reason = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: Redis tests must run)", pytrace=False)
        pytest.skip(f"!!! SKIPPING REDIS TESTS: {reason}")
    return client


@dataclass
class Node:
    name: str
    port: int
    process: BotProcess
    health_seen: list[tuple[int, JSON]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.process.returncode is None

    def events(self) -> list[str]:
        return [str(r["event"]) for r in self.process.records()]


@dataclass
class Cluster:
    api: FakeBotAPI
    url: URL
    nodes: list[Node]  # nodes[0] migrates and registers the webhook
    client: aiohttp.ClientSession
    engine: AsyncEngine
    redis: aioredis.Redis
    bot_id: int
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return create_session_factory(self.engine)

    def next_base(self) -> str:
        """Round robin over the replicas that are still up, like a load balancer."""
        live = [node for node in self.nodes if node.alive]
        return live[next(self._turn) % len(live)].base

    async def send(self, update: JSON, base: str | None = None) -> int:
        status, _ = await post(self.client, base or self.next_base(), update)
        return status


def _alive(node: Node) -> Callable[[], bool]:
    return lambda: node.alive


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster(
    postgres_available: bool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    redis = await _redis_or_skip()
    bot_id = 700_000_000 + secrets.randbelow(99_999_999)  # its own Redis keys: fsm:<bot id>:…
    token = f"{bot_id}:TEST-token-for-the-fake-bot-api"
    url = await create_pg_database()
    api = FakeBotAPI(token)
    await api.start()
    cwd = tmp_path_factory.mktemp("replicas")
    client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
    engine = create_engine(url)
    nodes: list[Node] = []

    async def launch(name: str, *args: str) -> Node:
        port = _free_port()
        env = bot_env(
            url,
            api.url,
            BOT_TOKEN=token,
            HOST="127.0.0.1",
            PORT=str(port),
            WEBHOOK_URL=WEBHOOK_URL,
            WEBHOOK_SECRET=SECRET,
            REDIS_URL=REDIS_URL,
            ADMIN_IDS=str(ADMIN_ID),
            SCHEMA_WAIT_TIMEOUT="180",
            SHUTDOWN_TIMEOUT="30",
        )
        node = Node(name, port, await start_bot(env, "--webhook", *args, cwd=cwd))
        nodes.append(node)
        return node

    try:
        # The two --no-migrate replicas first: they listen, and answer 503 while they wait.
        second = await launch("replica-2", "--no-migrate")
        third = await launch("replica-3", "--no-migrate")
        async with asyncio.timeout(120):
            while not second.health_seen:
                assert second.alive, second.process.output
                try:
                    second.health_seen.append(await health(client, second.base))
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        first = await launch("replica-1")  # the migrating one, a moment later
        nodes.sort(key=lambda node: node.name)
        assert nodes == [first, second, third]
        for node in nodes:
            await wait_healthy(
                client, node.base, seen=node.health_seen, alive=_alive(node), timeout=180
            )
        yield Cluster(api, url, nodes, client, engine, redis, bot_id)
    finally:
        codes = [await node.process.stop(within=60) for node in nodes]
        await client.close()
        await engine.dispose()
        await api.stop()
        keys = [key async for key in redis.scan_iter(match=f"fsm:{bot_id}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await drop_pg_database(url)
    for node, code in zip(nodes, codes, strict=True):
        assert code == 0, f"{node.name} exited with {code}\n{node.process.output}"
        assert "Traceback" not in node.process.output, node.process.output
        assert token.split(":")[1] not in node.process.output
        assert SECRET not in node.process.output
    assert api.calls_of("deleteWebhook") == []  # no replica ever switches the webhook off
    assert len(api.calls_of("setWebhook")) == 1


# --- start -----------------------------------------------------------------------------------


async def test_replicas_wait_for_the_schema_then_serve(cluster: Cluster) -> None:
    first, second, third = cluster.nodes
    # A --no-migrate replica was listening (503) before the migrating one even started.
    assert second.health_seen[0] == (503, {"status": "unavailable"})
    [behind, *_] = [r for r in second.process.records() if r["event"] == "health changed"]
    assert behind["reason"] == f"schema behind: revision base, head {head()}"  # in the log
    for node in cluster.nodes:
        assert node.health_seen[-1] == (200, {"status": "ok"})
        assert all(answer == (503, {"status": "unavailable"}) for answer in node.health_seen[:-1])
        changes = [r for r in node.process.records() if r["event"] == "health changed"]
        assert changes[-1]["status"] == "ok" and changes[-1]["revision"] == head()
    # setWebhook exactly once, by the migrating replica, after its migration.
    [call] = cluster.api.calls_of("setWebhook")
    assert call["url"] == WEBHOOK_URL + "/webhook" and call["secret_token"] == SECRET
    assert "pre_checkout_query" in call["allowed_updates"]
    events = first.events()
    assert events.index("schema ready") < events.index("webhook registered")
    assert events.index("webhook server listening") < events.index("schema ready")
    for node in (second, third):
        assert "webhook registered" not in node.events()
        assert "waiting for the schema to reach head" in node.events()
        assert not any(
            r.get("logger") == "alembic.runtime.migration" for r in node.process.records()
        )
    assert "FSM state in Redis: shared between replicas" in first.events()


# --- the shop through three replicas ----------------------------------------------------------


async def _buy(cluster: Cluster, buyer: int, product: int) -> str | None:
    """/start, Buy, pre-checkout, payment: each step to the next replica. The charge id, or
    None when the product was sold out."""
    api = cluster.api
    assert await cluster.send(api.build_message(buyer, "/start")) == 200
    assert await cluster.send(api.build_callback_query(buyer, BuyCb(product=product).pack())) == 200
    invoices = [p for p in api.calls_of("sendInvoice") if p["chat_id"] == buyer]
    if not invoices:
        return None
    payload, amount = invoices[-1]["payload"], invoice_amount(invoices[-1])
    query = api.build_pre_checkout_query(buyer, payload, amount)
    assert await cluster.send(query) == 200
    assert api.pre_checkout_answers[query["pre_checkout_query"]["id"]]["ok"] is True
    charge = f"charge-rr-{buyer}"
    assert await cluster.send(api.build_successful_payment(buyer, payload, amount, charge)) == 200
    return charge


async def test_purchases_round_robin_sell_each_item_once(cluster: Cluster) -> None:
    keys = {
        "Alpha": [f"KEY-ALPHA-{n}" for n in range(4)],
        "Beta": [f"KEY-BETA-{n}" for n in range(4)],
    }
    products = {
        title: await seed_product(cluster.session_factory, title, 10, stock, slug=title.lower())
        for title, stock in keys.items()
    }
    buyers = {4000 + n: products["Alpha" if n % 2 else "Beta"] for n in range(10)}
    charges = await asyncio.gather(*(_buy(cluster, b, p) for b, p in buyers.items()))
    paid = {buyer for buyer, charge in zip(buyers, charges, strict=True) if charge}
    assert len(paid) == 8  # 8 keys for 10 buyers: two were told it is sold out

    delivered: dict[str, list[int]] = {}
    for buyer in buyers:
        for message in cluster.api.sent_to(buyer):
            for key in [k for stock in keys.values() for k in stock]:
                if key in (message.get("text") or ""):
                    delivered.setdefault(key, []).append(buyer)
    assert sorted(delivered) == sorted(k for stock in keys.values() for k in stock)
    assert all(len(owners) == 1 for owners in delivered.values())  # no key sold twice
    assert {owners[0] for owners in delivered.values()} == paid

    async with cluster.session_factory() as session:
        orders = list(await session.scalars(select(Order).where(Order.user_id.in_(buyers))))
        items = list(
            await session.scalars(
                select(StockItem).where(StockItem.product_id.in_(products.values()))
            )
        )
    done = [o for o in orders if o.status == OrderStatus.DELIVERED]
    assert len(done) == 8 and len({o.stock_item_id for o in done}) == 8
    assert all(item.status == ItemStatus.SOLD for item in items)


async def test_owner_dialog_crosses_replicas_through_redis(cluster: Cluster) -> None:
    """/addproduct's six steps, each on the next replica: state and data live in Redis."""
    api = cluster.api
    steps = ["/addproduct", "gamma-key", "Gamma Key", "42", "Puzzles", "A puzzle key"]
    state_key = f"fsm:{cluster.bot_id}:{ADMIN_ID}:{ADMIN_ID}:state"
    for number, text in enumerate(steps):
        base = cluster.nodes[number % 3].base
        assert await cluster.send(api.build_message(ADMIN_ID, text), base) == 200
        if number == 0:
            assert await cluster.redis.get(state_key) == b"AddProduct:slug"
    expected = en("owner.product.created", title="Gamma Key", slug="gamma-key", price=42)
    assert api.sent_to(ADMIN_ID)[-1]["text"] == _plain(expected)
    assert await cluster.redis.get(state_key) is None  # the dialog is over
    async with cluster.session_factory() as session:
        product = await session.scalar(select(Product).where(Product.slug == "gamma-key"))
        assert product is not None
        assert (product.title, product.price, product.description) == (
            "Gamma Key",
            42,
            "A puzzle key",
        )
        category = await session.get(Category, product.category_id)
        assert category is not None and category.title == "Puzzles"


def _plain(html: str) -> str:
    """What Telegram shows of an HTML message (the fake renders parse_mode=HTML the same way)."""
    for tag in ("<b>", "</b>", "<code>", "</code>"):
        html = html.replace(tag, "")
    return html


async def test_bad_requests_never_reach_the_dispatcher(cluster: Cluster) -> None:
    node = cluster.nodes[1]
    before = len(node.process.lines)
    valid = cluster.api.build_message(4100, "/start")
    cases: list[tuple[bytes | JSON, str | None, int]] = [
        (valid, "wrong-secret", 401),
        (valid, None, 401),
        (b"\x00garbage{{", SECRET, 400),
        (b'{"no": "update"}', SECRET, 400),
        (b"[" + b"1," * (MAX_BODY // 2) + b"1]", SECRET, 413),
    ]
    for body, secret, expected in cases:
        status, _ = await post(cluster.client, node.base, body, secret=secret)
        assert status == expected
    # The process logs as it goes: wait until it has written its four lines (of the two
    # requests failing the secret check, only the first has one: see app/bot/refusals.py).
    await until(
        lambda: sum('"webhook request refused"' in x for x in node.process.lines[before:]) == 4
    )
    records = node.process.records()[before:]
    refused = [r for r in records if r["event"] == "webhook request refused"]
    assert sorted(int(str(r["status"])) for r in refused) == [400, 400, 401, 413]
    assert not [r for r in records if r["event"] == "update"]
    assert "Traceback" not in node.process.output
    assert cluster.api.sent_to(4100) == []


# --- SIGTERM ---------------------------------------------------------------------------------


async def test_sigterm_during_a_burst_loses_no_accepted_update(cluster: Cluster) -> None:
    """Every update answered 200 was fully handled; the rest are delivered again elsewhere."""
    api, node = cluster.api, cluster.nodes[2]
    product = await seed_product(
        cluster.session_factory, "Delta", 10, [f"KEY-DELTA-{n}" for n in range(4)], slug="delta"
    )
    payers = [4200 + n for n in range(4)]
    payments: dict[int, JSON] = {}
    for payer in payers:  # reserved and pre-checked on the replicas that stay up
        up = cluster.nodes[payer % 2].base
        assert await cluster.send(api.build_message(payer, "/start"), up) == 200
        assert (
            await cluster.send(api.build_callback_query(payer, BuyCb(product=product).pack()), up)
            == 200
        )
        invoice = [p for p in api.calls_of("sendInvoice") if p["chat_id"] == payer][-1]
        payload, amount = invoice["payload"], invoice_amount(invoice)
        assert await cluster.send(api.build_pre_checkout_query(payer, payload, amount), up) == 200
        payments[payer] = api.build_successful_payment(payer, payload, amount, f"charge-{payer}")

    starters = [4300 + n for n in range(24)]
    held: set[int] = set()
    entered: set[int] = set()
    release = asyncio.Event()
    all_entered = asyncio.Event()

    async def hold(params: JSON) -> None:
        chat = params.get("chat_id")
        if chat in held and not release.is_set():
            entered.add(chat)
            if entered >= set(starters) | set(payers):
                all_entered.set()
            await release.wait()

    api.on_call("sendMessage", hold)
    held.update(starters, payers)
    first_wave = [(u, api.build_message(u, "/start")) for u in starters]
    first_wave += [(payer, payments[payer]) for payer in payers]

    async def attempt(update: JSON) -> int:
        try:
            return await cluster.send(update, node.base)
        except aiohttp.ClientError:
            return 0  # refused or dropped: Telegram would deliver it again

    sent = [asyncio.create_task(attempt(update)) for _, update in first_wave]
    await asyncio.wait_for(all_entered.wait(), 60)  # every one of them is inside a handler
    node.process.process.terminate()  # SIGTERM
    await until(lambda: any('"signal received; stopping"' in x for x in node.process.lines))
    late = [(6000 + n, api.build_message(6000 + n, "/start")) for n in range(6)]
    held.update(u for u, _ in late)
    sent += [asyncio.create_task(attempt(update)) for _, update in late]
    await asyncio.sleep(0.2)  # let the late ones reach the stopping replica (or be refused)
    release.set()
    statuses = await asyncio.gather(*sent)
    assert await node.process.wait(60) == 0, node.process.output

    outcome = dict(zip([u for u, _ in first_wave + late], statuses, strict=True))
    # The updates in flight at SIGTERM were all finished and answered 200.
    assert all(outcome[u] == 200 for u, _ in first_wave), outcome
    assert all(outcome[u] != 200 or api.sent_to(u) for u, _ in late)
    for user in starters:
        assert "Welcome" in api.sent_to(user)[0]["text"]
    # What was not accepted, Telegram delivers again: to a replica that is up.
    for user, update in late:
        if outcome[user] != 200:
            assert api.sent_to(user) == []  # never half-handled
            assert await cluster.send(update) == 200
            assert "Welcome" in api.sent_to(user)[0]["text"]

    # No half-applied purchase: each payment sold one item and delivered its key once.
    async with cluster.session_factory() as session:
        orders = list(await session.scalars(select(Order).where(Order.user_id.in_(payers))))
        sold = await session.scalar(
            select(func.count(StockItem.id)).where(
                StockItem.product_id == product, StockItem.status == ItemStatus.SOLD
            )
        )
    assert sorted(o.status for o in orders) == [OrderStatus.DELIVERED] * 4
    assert sold == 4
    for payer in payers:
        keys = [m for m in api.sent_to(payer) if "KEY-DELTA-" in (m.get("text") or "")]
        assert len(keys) == 1
    records = node.process.records()
    events = [str(r["event"]) for r in records]
    assert events.index("signal received; stopping") < events.index("stopped")
    assert "updates still in flight after SHUTDOWN_TIMEOUT; cancelling them" not in " ".join(events)
