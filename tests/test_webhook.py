"""Webhook mode in this process: the aiohttp server on 127.0.0.1:0 with the real Dispatcher.

What a replica refuses (and that nothing refused reaches the Dispatcher), /healthz while the
schema is behind, setWebhook by the migrating process only, draining on stop, configuration
errors, the release step, and polling removing a leftover webhook. The multi-process story
(three replicas, Redis, SIGTERM) is in test_webhook_replicas.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.bot.entry import describe_failure
from app.bot.health import Phase
from app.bot.storage import mask_redis_url, redis_secrets
from app.bot.webhook import WebhookServer
from app.bot.webhook_handler import MAX_BODY
from app.bot.webhook_setup import WebhookServerError
from app.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from app.config import Settings
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.models import ItemStatus, OrderStatus
from app.i18n import translator
from app.keyboards.buyer import BuyCb
from app.logs import configure_logging
from tests.fake_api import FakeBotAPI
from tests.faults import allow_inserts, refuse_inserts
from tests.harness import UpdateTracker, make_settings, running_bot
from tests.processes import APP_VARIABLES, url_env
from tests.schema import head, heads_of
from tests.shop_helpers import invoice_amount, items_of, orders_of, seed_product

SECRET = "s3cret_Webhook-token-for-the-tests_0123456789"
WEBHOOK_URL = "https://shop.example.com"  # never contacted: the fake Bot API only records it
HEADER = "X-Telegram-Bot-Api-Secret-Token"
JSON = dict[str, Any]
en = translator("en")


# --- helpers shared with test_webhook_replicas.py and the benchmark -------------------------


async def post(
    client: aiohttp.ClientSession,
    base: str,
    body: bytes | JSON,
    *,
    secret: str | None = SECRET,
    path: str = "/webhook",
) -> tuple[int, JSON]:
    """POST to a replica's webhook like Telegram does; returns (status, JSON answer or {})."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.post(base + path, data=data, headers=headers) as response:
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}


async def health(client: aiohttp.ClientSession, base: str) -> tuple[int, JSON]:
    async with client.get(base + "/healthz") as response:
        return response.status, await response.json()


async def wait_healthy(
    client: aiohttp.ClientSession,
    base: str,
    *,
    seen: list[tuple[int, JSON]] | None = None,
    alive: Callable[[], bool] = lambda: True,
    timeout: float = 90.0,  # noqa: ASYNC109
) -> JSON:
    """Poll /healthz (as a load balancer does) until 200; records every answer in ``seen``."""
    async with asyncio.timeout(timeout):
        while True:
            assert alive(), "the replica exited"
            try:
                status, body = await health(client, base)
            except aiohttp.ClientConnectionError:
                status, body = 0, {}
            if seen is not None and status:
                seen.append((status, body))
            if status == 200:
                return body
            await asyncio.sleep(0.1)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait for a condition on this process's own state (polled; no clock in any assertion)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def webhook_settings(url: URL, api: FakeBotAPI, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_secret": SECRET,
        "webhook_url": WEBHOOK_URL,
        "host": "127.0.0.1",
        "redis_url": None,
    }
    values.update(extra)
    port = values.pop("port", 0)
    settings = make_settings(url, api.url, **values)
    return settings.model_copy(update={"port": port})  # port 0: any free one


class Replica:
    """A :class:`WebhookServer` running in this event loop."""

    def __init__(self, server: WebhookServer) -> None:
        self.server = server
        self.tracker = UpdateTracker.install(server.dispatcher)  # which updates reached it
        self.task: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.run(handle_signals=False))
        listening = asyncio.create_task(self.server.listening.wait())
        await asyncio.wait({self.task, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if self.task.done():
            self.task.result()

    async def stop(self) -> None:
        assert self.task is not None
        self.server.request_stop()
        await asyncio.wait_for(self.task, 60)


@contextlib.asynccontextmanager
async def replica(settings: Settings, *, migrate: bool) -> AsyncIterator[Replica]:
    running = Replica(WebhookServer(settings, migrate=migrate))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[JSON]]:
    """JSON log records of this test (our structlog pipeline, as in production)."""
    configure_logging("INFO", json=True, secrets=[SECRET])
    lines: list[str] = []

    def records() -> list[JSON]:
        lines.extend(capsys.readouterr().out.splitlines())
        return [json.loads(line) for line in lines if line.strip()]

    return records


# --- requests a replica refuses -------------------------------------------------------------


async def test_refuses_bad_requests_before_the_dispatcher(
    pg_url: URL,
    fake_api: FakeBotAPI,
    client: aiohttp.ClientSession,
    logs: Callable[[], list[JSON]],
) -> None:
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        valid = fake_api.build_message(3001, "/start")
        cases: list[tuple[str, bytes | JSON, str | None, int]] = [
            ("wrong secret", valid, "not-the-secret", 401),
            ("missing secret", valid, None, 401),
            ("secret with a prefix", valid, SECRET + "x", 401),
            ("text", b"this is not json {", SECRET, 400),
            ("binary", b"\xff\xfe\x00\x01garbage", SECRET, 400),
            ("empty", b"", SECRET, 400),
            ("a list", b"[1, 2, 3]", SECRET, 400),
            ("not an update", b'{"hello": "world"}', SECRET, 400),
            ("bad update_id", b'{"update_id": "x", "message": 5}', SECRET, 400),
            ("deep nesting", b"[" * 200_000 + b"]" * 200_000, SECRET, 400),
            ("oversized", b'{"update_id": 1, "x": "' + b"a" * MAX_BODY + b'"}', SECRET, 413),
        ]
        for name, body, secret, expected in cases:
            status, _ = await post(client, running.base, body, secret=secret)
            assert status == expected, name
        # A non-ASCII secret (aiogram's own str compare_digest would raise: a 500).
        async with client.post(
            running.base + "/webhook",
            data=json.dumps(valid).encode(),
            headers={HEADER: "sécret".encode().decode("latin-1")},
        ) as response:
            assert response.status == 401
        async with client.get(running.base + "/webhook") as response:
            assert response.status == 405
        assert running.tracker.seen == []  # nothing refused reached the Dispatcher

        status, _ = await post(client, running.base, valid)
        assert status == 200
        assert running.tracker.seen == [valid["update_id"]]
        assert "Welcome" in fake_api.sent_to(3001)[-1]["text"]

    records = logs()
    output = json.dumps(records)
    assert "Traceback" not in output and "Error handling request" not in output
    assert SECRET not in output and "sécret" not in output
    refused = [r for r in records if r["event"] == "webhook request refused"]
    # One line per request refused after the secret check; of the four that failed it, the
    # first has a line and the others are counted, and reported when the replica stops.
    assert sorted(r["status"] for r in refused) == sorted(
        [c[3] for c in cases if c[3] != 401] + [401]
    )
    assert all("body" not in r for r in refused)
    [summary] = [
        r for r in records if r["event"] == "webhook requests refused in the last interval"
    ]
    assert (summary["refused"], summary["limited"]) == (4, 0)
    updates = [r for r in records if r["event"] == "update"]
    assert [u["update_id"] for u in updates] == [valid["update_id"]]


async def test_requests_failing_the_secret_are_rate_limited_and_logged_once_per_interval(
    sqlite_url: URL,
    fake_api: FakeBotAPI,
    client: aiohttp.ClientSession,
    logs: Callable[[], list[JSON]],
) -> None:
    now = [1000.0]
    async with replica(webhook_settings(sqlite_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        refusals = running.server.handler.refusals
        refusals.clock = lambda: now[0]
        valid = fake_api.build_message(3010, "/start")
        answers = []
        for _ in range(refusals.limit + 5):
            async with client.post(
                running.base + "/webhook", json=valid, headers={HEADER: "guess"}
            ) as response:
                answers.append((response.status, response.headers.get("Retry-After")))
        assert answers[: refusals.limit] == [(401, None)] * refusals.limit
        assert answers[refusals.limit :] == [(429, str(int(refusals.interval)))] * 5
        # Telegram's requests carry the secret: never limited, even from a limited address.
        status, _ = await post(client, running.base, valid)
        assert status == 200
        assert running.tracker.seen == [valid["update_id"]]

        refused = [r for r in logs() if r["event"].startswith("webhook request")]
        assert [(r["event"], r["status"]) for r in refused] == [("webhook request refused", 401)]

        now[0] += refusals.interval  # the next interval: counts start over, one line for it
        status, _ = await post(client, running.base, valid, secret=None)
        assert status == 401
        records = logs()
    summaries = [
        r for r in records if r["event"] == "webhook requests refused in the last interval"
    ]
    assert [(r["refused"], r["limited"], r["clients"]) for r in summaries] == [
        (refusals.limit, 5, 1)
    ]
    lines = [r for r in records if r["event"] == "webhook request refused"]
    assert [r["reason"] for r in lines] == ["wrong secret token", "missing secret token"]
    assert running.tracker.seen == [valid["update_id"]]


async def test_unknown_update_type_is_acknowledged_not_dispatched(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    """An update type newer than aiogram: 200 (Telegram must not retry it), never dispatched."""
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        status, _ = await post(client, running.base, {"update_id": 77, "future_thing": {"a": 1}})
        assert status == 200
        assert running.tracker.seen == []


# --- health and readiness -------------------------------------------------------------------


async def test_replica_listens_and_answers_503_until_the_schema_is_at_head(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    settings = webhook_settings(pg_url, fake_api, schema_wait_timeout=120)
    async with replica(settings, migrate=False) as running:
        status, body = await health(client, running.base)
        assert (status, body) == (503, {"status": "unavailable"})  # public: nothing more
        detail = running.server.health.last  # the detail went to the log
        assert detail is not None
        assert detail["reason"] == f"schema behind: revision base, head {head()}"
        assert detail["revision"] is None and detail["head"] == head()
        update = fake_api.build_message(3002, "/start")
        status, _ = await post(client, running.base, update)
        assert status == 503  # Telegram retries later; the Dispatcher never saw it
        assert running.tracker.seen == []

        engine = create_engine(pg_url)  # another process migrates
        try:
            await migrate(engine, settings)
        finally:
            await engine.dispose()
        body = await wait_healthy(client, running.base)
        assert body == {"status": "ok"}
        assert running.server.health.last == {"status": "ok", "revision": head(), "head": head()}
        status, _ = await post(client, running.base, update)
        assert status == 200
        assert running.tracker.seen == [update["update_id"]]
    # A --no-migrate replica never touches the webhook, neither on start nor on stop.
    assert fake_api.calls_of("setWebhook") == []
    assert fake_api.calls_of("deleteWebhook") == []


async def test_stop_while_waiting_for_the_schema_is_clean(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    settings = webhook_settings(pg_url, fake_api, schema_wait_timeout=120)
    running = Replica(WebhookServer(settings, migrate=False))
    await running.start()
    status, _ = await health(client, running.base)
    assert status == 503
    await running.stop()  # SIGTERM while waiting for head: no error, nothing left open
    assert running.server.readiness.phase is Phase.STOPPING
    assert await heads_of(pg_url) == ()  # and it ran no DDL


async def test_health_tells_the_public_the_status_and_the_log_why(
    fake_api: FakeBotAPI, client: aiohttp.ClientSession, logs: Callable[[], list[JSON]]
) -> None:
    """An unreachable database: the answer is only the status; the log says why (its address)."""
    dead = URL.create("postgresql+asyncpg", username="shop", host="127.0.0.1", port=1)
    server = WebhookServer(webhook_settings(dead, fake_api), migrate=False)
    await server.listen()  # listening, startup not begun
    try:
        answers = [await health(client, f"http://127.0.0.1:{server.port}") for _ in range(3)]
        async with client.get(f"http://127.0.0.1:{server.port}/healthz") as response:
            raw = await response.text()
    finally:
        await server.stop()
    assert answers == [(503, {"status": "unavailable"})] * 3
    assert "127.0.0.1" not in raw and "unreachable" not in raw
    changes = [r for r in logs() if r["event"] == "health changed"]
    assert len(changes) == 1  # once per change, not once per probe
    assert changes[0]["status"] == "unavailable" and changes[0]["level"] == "warning"
    assert str(changes[0]["reason"]).startswith("database unreachable: ")


async def test_port_in_use_is_one_clear_error(fake_api: FakeBotAPI, sqlite_url: URL) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebhookServer(webhook_settings(sqlite_url, fake_api, port=port), migrate=True)
        with pytest.raises(WebhookServerError) as caught:
            await server.run(handle_signals=False)
    message = describe_failure(caught.value, server.settings)  # the CLI's line for a bot run
    assert message is not None and message.startswith(f"cannot listen on 127.0.0.1:{port}")


async def test_a_failed_update_is_answered_200_and_the_user_is_told(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    """Redelivering a broken update would fail again forever: logged once, 200, the user told."""
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        update = fake_api.build_message(3006, "/start")
        fake_api.fail_next("sendMessage", 500, "Internal Server Error", chat_id=3006)
        status, _ = await post(client, running.base, update)
        assert status == 200
        assert [m["text"] for m in fake_api.sent_to(3006)] == [en("error")]


async def test_a_payment_the_ledger_cannot_record_is_answered_500_then_fulfilled(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    """Not recorded, not acknowledged: Telegram delivers it again, and recording is idempotent."""
    buyer = 3007
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        factory = running.server.dispatcher["session_factory"]
        product = await seed_product(factory, "Disk Key", 25, ["KEY-RETRY-1"])
        payload, amount = await _reserve(client, running.base, fake_api, buyer, product)
        payment = fake_api.build_successful_payment(buyer, payload, amount, "charge-retry-1")
        await refuse_inserts(pg_url, "payments")
        status, _ = await post(client, running.base, payment)
        assert status == 500
        assert not any("KEY-RETRY-1" in (m.get("text") or "") for m in fake_api.sent_to(buyer))
        await allow_inserts(pg_url, "payments")
        for _ in range(2):  # Telegram's retry, and one more copy
            status, _ = await post(client, running.base, payment)
            assert status == 200
        [order] = await orders_of(factory, buyer)
    assert order.status == OrderStatus.DELIVERED
    deliveries = [m for m in fake_api.sent_to(buyer) if "KEY-RETRY-1" in (m.get("text") or "")]
    assert len(deliveries) == 1


# --- setWebhook ---------------------------------------------------------------------------


async def test_the_migrating_replica_registers_the_webhook_once(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        await wait_healthy(client, running.base)
        allowed = running.server.dispatcher.resolve_used_update_types()
    [call] = fake_api.calls_of("setWebhook")
    assert call["url"] == WEBHOOK_URL + "/webhook"
    assert call["secret_token"] == SECRET
    assert call["allowed_updates"] == allowed
    assert {"message", "callback_query", "pre_checkout_query"} <= set(allowed)
    assert call.get("drop_pending_updates") in (None, False)
    assert fake_api.calls_of("deleteWebhook") == []  # not on stop either
    assert await heads_of(pg_url) == (head(),)


# --- graceful stop ---------------------------------------------------------------------------


async def test_stop_stops_listening_then_finishes_the_update_in_flight(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_reply(params: JSON) -> None:
        if params["chat_id"] == 3003:
            entered.set()
            await release.wait()

    fake_api.on_call("sendMessage", slow_reply)
    async with replica(webhook_settings(pg_url, fake_api), migrate=True) as running:
        base = running.base
        await wait_healthy(client, base)
        update = fake_api.build_message(3003, "/start")
        in_flight = asyncio.create_task(post(client, base, update))
        await entered.wait()  # the update is inside its handler
        running.server.request_stop()
        await until(lambda: not running.server.runner.sites)  # stop listening comes first
        assert running.server.readiness.phase is Phase.STOPPING
        async with aiohttp.ClientSession() as fresh:
            with pytest.raises(aiohttp.ClientConnectionError):
                await health(fresh, base)
        assert not in_flight.done()
        release.set()
        status, _ = await in_flight
    assert status == 200  # answered only after it was handled
    assert "Welcome" in fake_api.sent_to(3003)[-1]["text"]


async def test_update_cut_short_at_shutdown_timeout_is_rolled_back_and_redelivered(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> None:
    """A purchase in flight is either completed or never started.

    The payment update is held inside its database transaction (the test holds a lock on the
    orders table); SHUTDOWN_TIMEOUT runs out; the update is cancelled, rolled back, answered
    503. Telegram delivers it again to another replica, which completes the sale once.
    """
    settings = webhook_settings(pg_url, fake_api, shutdown_timeout=0.5)
    buyer = 3004
    async with replica(settings, migrate=True) as running:
        await wait_healthy(client, running.base)
        product = await seed_product(
            running.server.dispatcher["session_factory"], "Disk Key", 25, ["KEY-DISK-1"]
        )
        payload, amount = await _reserve(client, running.base, fake_api, buyer, product)
        payment = fake_api.build_successful_payment(buyer, payload, amount, "charge-disk-1")

        blocker = create_engine(pg_url)
        try:
            async with blocker.connect() as connection:
                await connection.execute(text("BEGIN"))
                await connection.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
                in_flight = asyncio.create_task(post(client, running.base, payment))
                await until(lambda: len(running.server.in_flight) > 0)
                await running.stop()  # drains for 0.5 s, then cancels
                status, answer = await in_flight
                await connection.execute(text("ROLLBACK"))
        finally:
            await blocker.dispose()
    assert (status, answer.get("error")) == (503, "shutting down")
    checker = create_engine(pg_url)
    try:
        session_factory = create_session_factory(checker)
        [order] = await orders_of(session_factory, buyer)
        assert order.status == OrderStatus.PENDING and order.telegram_payment_charge_id is None

        relaxed = settings.model_copy(update={"shutdown_timeout": 20.0})
        async with replica(relaxed, migrate=False) as again:
            await wait_healthy(client, again.base)
            status, _ = await post(client, again.base, payment)  # Telegram's retry
            assert status == 200
        [order] = await orders_of(session_factory, buyer)
        [item] = await items_of(session_factory, product)
    finally:
        await checker.dispose()
    assert order.status == OrderStatus.DELIVERED and order.telegram_payment_charge_id
    assert item.status == ItemStatus.SOLD
    deliveries = [m for m in fake_api.sent_to(buyer) if "KEY-DISK-1" in (m.get("text") or "")]
    assert len(deliveries) == 1


async def _reserve(
    client: aiohttp.ClientSession, base: str, api: FakeBotAPI, buyer: int, product: int
) -> tuple[str, int]:
    """/start, the buy button, the pre-checkout query: returns the invoice payload and amount."""
    for update in (
        api.build_message(buyer, "/start"),
        api.build_callback_query(buyer, BuyCb(product=product).pack()),
    ):
        assert (await post(client, base, update))[0] == 200
    invoice = [p for p in api.calls_of("sendInvoice") if p["chat_id"] == buyer][-1]
    payload, amount = invoice["payload"], invoice_amount(invoice)
    query = api.build_pre_checkout_query(buyer, payload, amount)
    assert (await post(client, base, query))[0] == 200
    assert api.pre_checkout_answers[query["pre_checkout_query"]["id"]]["ok"] is True
    return payload, amount


# --- polling removes a leftover webhook ----------------------------------------------------


async def test_polling_deletes_a_leftover_webhook_keeping_updates(
    fake_api: FakeBotAPI, sqlite_url: URL
) -> None:
    fake_api.updates.webhook = {"url": WEBHOOK_URL + "/webhook", "max_connections": 40}
    fake_api.message(3005, "/start")  # pending while the webhook was set
    async with running_bot(fake_api, make_settings(sqlite_url, fake_api.url)):
        await fake_api.wait_for("sendMessage", lambda p: p["chat_id"] == 3005, timeout=30)
    [call] = fake_api.calls_of("deleteWebhook")
    assert call.get("drop_pending_updates") is False
    methods = [c.method for c in fake_api.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")


# --- configuration ------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: object, sqlite_url: URL) -> pytest.MonkeyPatch:
    for name in [*APP_VARIABLES, "SHUTDOWN_TIMEOUT"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-token-for-the-fake-bot-api")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABASE_URL", url_env(sqlite_url))
    monkeypatch.setenv("LOG_FORMAT", "json")
    return monkeypatch


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    out = capsys.readouterr().out
    assert "Traceback" not in out
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [str(r["event"]) for r in records if r["level"] == "error"]


@pytest.mark.parametrize(
    ("args", "variables", "expected"),
    [
        (["--webhook"], {"WEBHOOK_URL": WEBHOOK_URL}, "WEBHOOK_SECRET is required"),
        (["--webhook", "--no-migrate"], {}, "WEBHOOK_SECRET is required"),
        (["--webhook"], {"WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL is required"),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": "has spaces and ünïcode but is long enough"},
            "WEBHOOK_SECRET may only contain A-Z, a-z, 0-9, _ and -",
        ),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": "x"},
            "WEBHOOK_SECRET must be at least 32 characters long (it has 1)",
        ),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": "a" * 31},
            "WEBHOOK_SECRET must be at least 32 characters long (it has 31)",
        ),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": "a" * 257},
            "WEBHOOK_SECRET must be at most 256 characters long",
        ),
        (["migrate"], {"WEBHOOK_URL": WEBHOOK_URL, "WEBHOOK_SECRET": "short"}, "at least 32"),
        (
            ["--webhook"],
            {"WEBHOOK_SECRET": SECRET, "WEBHOOK_URL": "http://shop.example.com"},
            "WEBHOOK_URL must be an https:// URL",
        ),
        (
            ["--webhook"],
            {"WEBHOOK_SECRET": SECRET, "WEBHOOK_URL": "https://shop.example.com:8080"},
            "WEBHOOK_URL must use port 443, 80, 88 or 8443",
        ),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": SECRET, "WEBHOOK_PATH": "/healthz"},
            "WEBHOOK_PATH must not be /healthz",
        ),
        (
            ["--webhook", "--no-migrate"],
            {"WEBHOOK_SECRET": SECRET, "REDIS_URL": "pw-hunter2@cache:6379"},
            "REDIS_URL must be a redis://",
        ),
        (["migrate"], {"WEBHOOK_URL": WEBHOOK_URL}, "WEBHOOK_SECRET is required"),
    ],
)
def test_webhook_configuration_errors_name_the_variable(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    variables: dict[str, str],
    expected: str,
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    assert main(args) == EXIT_CONFIG
    [error] = _errors(capsys)
    assert expected in error
    for value in variables.values():
        if value not in (WEBHOOK_URL, SECRET, "/healthz"):
            assert value not in error


def test_release_step_with_webhook_url_needs_the_token(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("BOT_TOKEN")
    env.setenv("WEBHOOK_URL", WEBHOOK_URL)
    env.setenv("WEBHOOK_SECRET", SECRET)
    assert main(["migrate"]) == EXIT_CONFIG
    [error] = _errors(capsys)
    assert "BOT_TOKEN is required" in error


def test_replica_that_gives_up_waiting_for_the_schema_exits_in_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("WEBHOOK_SECRET", SECRET)
    env.setenv("HOST", "127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        env.setenv("PORT", str(probe.getsockname()[1]))
    env.setenv("SCHEMA_WAIT_TIMEOUT", "0.5")
    assert main(["--webhook", "--no-migrate"]) == EXIT_FAILURE
    [error] = _errors(capsys)
    assert error.startswith("not starting: ") and "SCHEMA_WAIT_TIMEOUT" in error


@pytest.mark.parametrize("args", [["--webhook"], []], ids=["webhook", "polling"])
def test_unreachable_redis_is_one_line_without_its_password(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    env.setenv("WEBHOOK_SECRET", SECRET)
    env.setenv("WEBHOOK_URL", WEBHOOK_URL)
    env.setenv("HOST", "127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        env.setenv("PORT", str(probe.getsockname()[1]))
    env.setenv("REDIS_URL", "redis://:hunter2-pw@127.0.0.1:1/0")
    env.setenv("DB_CONNECT_TIMEOUT", "0.5")
    assert main(args) == EXIT_FAILURE
    out = capsys.readouterr().out
    assert "Traceback" not in out and "hunter2-pw" not in out
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    [error] = [str(r["event"]) for r in records if r["level"] == "error"]
    assert error.startswith("not starting: cannot reach Redis (REDIS_URL)")
    assert any(r.get("redis") == "redis://***@127.0.0.1:1/0" for r in records)


def test_webhook_cannot_be_combined_with_a_command(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--webhook", "migrate"])
    assert exited.value.code == 2


def test_redis_url_is_masked_and_its_password_redacted() -> None:
    url = "redis://shop:hunter%232@cache.internal:6380/3?password=other"
    assert mask_redis_url(url) == "redis://***@cache.internal:6380/3?password=***"
    assert {"hunter%232", "hunter#2", "other"} <= set(redis_secrets(url))
    assert mask_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_release_step_migrates_then_registers_the_webhook(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_url: URL,
    fake_api: FakeBotAPI,
) -> None:
    env.setenv("DATABASE_URL", url_env(pg_url))
    env.setenv("TELEGRAM_API_URL", fake_api.url)
    env.setenv("WEBHOOK_URL", WEBHOOK_URL)
    env.setenv("WEBHOOK_SECRET", SECRET)
    # main() runs its own event loop; the fake Bot API keeps serving on this one.
    assert await asyncio.to_thread(main, ["migrate"]) == EXIT_OK
    assert await heads_of(pg_url) == (head(),)
    [call] = fake_api.calls_of("setWebhook")
    assert call["url"] == WEBHOOK_URL + "/webhook" and call["secret_token"] == SECRET
    assert "pre_checkout_query" in call["allowed_updates"]
    assert fake_api.calls_of("deleteWebhook") == []
    out = capsys.readouterr().out
    assert SECRET not in out
    assert [json.loads(line)["event"] for line in out.splitlines()][-1] == "webhook registered"


async def test_release_step_reports_a_refused_webhook_in_one_line(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_url: URL,
    fake_api: FakeBotAPI,
) -> None:
    env.setenv("DATABASE_URL", url_env(pg_url))
    env.setenv("TELEGRAM_API_URL", fake_api.url)
    env.setenv("WEBHOOK_URL", WEBHOOK_URL)
    env.setenv("WEBHOOK_SECRET", SECRET)
    fake_api.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    assert await asyncio.to_thread(main, ["migrate"]) == EXIT_FAILURE
    [error] = _errors(capsys)
    assert error.startswith(f"Telegram refused the webhook {WEBHOOK_URL}/webhook")
