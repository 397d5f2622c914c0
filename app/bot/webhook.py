"""Webhook mode (``python -m app --webhook``): one of several replicas behind a load balancer.

The order of a replica's life, and why:

1. Listen on HOST:PORT first. ``GET /healthz`` answers 503 and the webhook route 503 (Telegram
   retries) until the startup below has finished, so the load balancer keeps a replica that
   waits for the schema out of rotation instead of seeing a dead port.
2. Run the Dispatcher's startup (migrate, or with ``--no-migrate`` wait for head), check Redis;
   the migrating process then calls setWebhook. Only then are updates handed to the Dispatcher.
3. On SIGTERM/SIGINT: stop listening, refuse new requests on open connections (503), wait for
   the updates in flight (at most SHUTDOWN_TIMEOUT s), cancel what is left (its request gets no
   200, so Telegram delivers it again), then the Dispatcher's shutdown (closes the FSM
   storage), the engine and the bot session. Never deleteWebhook: other replicas serve on.

An update is answered 200 only after the Dispatcher has finished it (aiogram's
``handle_in_background=False``): an update Telegram saw accepted is never lost by a restart,
and one cut short is rolled back (the per-update transaction) and delivered again.

aiogram's ``setup_application`` is not used: it hooks the Dispatcher's startup into
``AppRunner.setup()``, which runs before the site listens, and its shutdown into
``on_shutdown``, which aiohttp runs before it waits for the requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bot.factory import create_bot, create_dispatcher
from app.bot.health import HealthCheck, Phase, Readiness
from app.bot.refusals import RefusalLimiter
from app.bot.storage import create_storage, ping_storage
from app.bot.webhook_setup import WebhookServerError, register_webhook
from app.config import HEALTH_PATH, Settings
from app.db.engine import create_engine

log = structlog.get_logger("app.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY = 1024 * 1024  # Telegram's updates are far smaller; anything bigger is refused (413)
RESPONSE_WRITE_TIMEOUT = 5.0  # after the drain: time left for answers to reach the client
RETRY_AFTER = "5"

T = TypeVar("T")


class InFlight:
    """The updates being processed, each in its own task so that shutdown can wait for it.

    The request handler awaits its task through ``asyncio.shield``: aiohttp cancelling a
    request never cuts an update short; only :meth:`cancel` (after SHUTDOWN_TIMEOUT) does.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here; the request handler reports it if still waiting

    async def drain(self, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until nothing is in flight or ``timeout`` s passed; returns how many are left."""
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return len(pending)

    async def cancel(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _json_error(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status, headers=headers)


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, made strict: secret first, then readiness, size, JSON, Update shape.

    Every refusal is one warning line without the body, except those for a wrong or missing
    secret, which are rate-limited and logged once per interval (:mod:`app.bot.refusals`);
    nothing refused reaches the Dispatcher.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        readiness: Readiness,
        in_flight: InFlight,
        **data: Any,
    ) -> None:
        super().__init__(
            dispatcher, bot, handle_in_background=False, secret_token=secret_token, **data
        )
        self._secret = secret_token.encode()
        self.readiness = readiness
        self.in_flight = in_flight
        self.refusals = RefusalLimiter()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """Constant-time, on bytes (``compare_digest`` on str raises for non-ASCII input)."""
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._secret)

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        log.warning(
            "webhook request refused",
            status=status,
            reason=reason,
            remote=request.remote,
            content_length=request.content_length,
        )
        return _json_error(status, reason)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None or not self.verify_secret(given, self.bot):
            reason = "missing secret token" if given is None else "wrong secret token"
            refusal = self.refusals.refuse(request.remote, reason)
            if refusal.retry_after is not None:
                retry = {"Retry-After": str(refusal.retry_after)}
                return _json_error(refusal.status, "too many requests", **retry)
            return _json_error(refusal.status, reason)
        if not self.readiness.ready:
            log.info("webhook request refused", status=503, reason=self.readiness.phase.value)
            return _json_error(503, self.readiness.phase.value, **{"Retry-After": RETRY_AFTER})
        update = await self._read_update(request)
        if not isinstance(update, Update):
            return self._refuse(request, *update)
        try:
            update.event_type  # noqa: B018 (raises for a type this aiogram does not know)
        except UpdateTypeLookupError:
            log.warning("update of an unknown type ignored", update_id=update.update_id)
            return web.json_response({})
        return await self._process(update)

    __call__ = handle

    async def _read_update(self, request: web.Request) -> Update | tuple[int, str]:
        """The Update, or the status and reason to refuse the request with."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return 413, f"body larger than {MAX_BODY} bytes"
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
            return 400, "body is not JSON"
        if not isinstance(data, dict):
            return 400, "body is not a JSON object"
        try:
            return Update.model_validate(data, context={"bot": self.bot})
        except (ValidationError, RecursionError):
            return 400, "body is not a Telegram update"

    async def _process(self, update: Update) -> web.Response:
        try:
            await self.in_flight.run(self._feed(update))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # aiohttp is giving up on this request; the update task runs on
            # Cut short at shutdown (rolled back): no 200, so Telegram delivers it again.
            return _json_error(503, "shutting down", **{"Retry-After": RETRY_AFTER})
        except Exception:
            log.exception("update failed; Telegram will deliver it again", update=update.update_id)
            return _json_error(500, "update failed")
        return web.json_response({})

    async def _feed(self, update: Update) -> None:
        result = await self.dispatcher.feed_update(self.bot, update, **self.data)
        if isinstance(result, TelegramMethod):
            # A handler returned a method (a "webhook reply"): call it before answering 200.
            await self.dispatcher.silent_call_request(self.bot, result)


class WebhookServer:
    """One webhook replica: the aiohttp server, the Dispatcher, and their shared lifecycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool,
        engine: AsyncEngine | None = None,
        bot: Bot | None = None,
        storage: BaseStorage | None = None,
    ) -> None:
        assert settings.webhook_secret is not None
        self.settings = settings
        self.migrate = migrate
        self.engine = engine or create_engine(settings.database_url)
        self.bot = bot or create_bot(settings)
        self.storage = storage or create_storage(settings, replicas=True)
        self.dispatcher = create_dispatcher(
            settings, self.engine, migrate=migrate, storage=self.storage, webhook=True
        )
        # Right after the schema hook, before the routers' own hooks (e.g. broadcasts).
        self.dispatcher.startup.register(self._check_storage)
        self.readiness = Readiness()
        self.in_flight = InFlight()
        self.health = HealthCheck(self.engine, settings, self.readiness)
        self.app = web.Application(client_max_size=MAX_BODY)
        self.workflow: dict[str, Any] = {
            "dispatcher": self.dispatcher,
            "bots": (self.bot,),
            "app": self.app,
            **self.dispatcher.workflow_data,
        }
        self.handler = WebhookHandler(
            self.dispatcher,
            self.bot,
            secret_token=settings.webhook_secret.get_secret_value(),
            readiness=self.readiness,
            in_flight=self.in_flight,
            **{k: v for k, v in self.workflow.items() if k != "dispatcher"},
        )
        # Not handler.register(): its on_shutdown hook would close the bot session while
        # aiohttp still waits for requests in flight; stop() closes it after the drain.
        self.app.router.add_post(settings.webhook_path, self.handler.handle)
        self.app.router.add_get(HEALTH_PATH, self.health.handle)
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=RESPONSE_WRITE_TIMEOUT
        )
        self.port: int | None = None  # the bound port, once listening (PORT may be 0)
        self.listening = asyncio.Event()
        self._stop = asyncio.Event()
        self._dispatcher_started = False

    # --- the whole life -----------------------------------------------------------------

    async def run(self, *, handle_signals: bool = True) -> None:
        """Listen, start, serve until SIGTERM/SIGINT (or :meth:`request_stop`), stop."""
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.listen()
            if await self.start():
                await self._stop.wait()
        finally:
            try:
                await self.stop()
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received; stopping", signal=sig.name, in_flight=len(self.in_flight))
        self.request_stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def listen(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            raise WebhookServerError(f"cannot listen on {where}: {exc.strerror or exc}") from None
        self.port = site.port
        self.listening.set()
        log.info(
            "webhook server listening",
            host=self.settings.host,
            port=self.port,
            path=self.settings.webhook_path,
            health=HEALTH_PATH,
            role="migrate" if self.migrate else "no-migrate",
        )

    async def start(self) -> bool:
        """The Dispatcher's startup, unless a stop is requested first; True once ready."""
        startup = asyncio.create_task(self._startup())
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not startup.done():
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await startup
                log.info("stopped before startup finished")
        if startup.cancelled():
            return False
        startup.result()  # a failed startup propagates (one log line and exit 1 in the CLI)
        self.readiness.phase = Phase.READY
        log.info("webhook replica ready", role="migrate" if self.migrate else "no-migrate")
        return True

    async def _check_storage(self) -> None:
        await ping_storage(self.storage, self.settings.db_connect_timeout)

    async def _startup(self) -> None:
        await self.dispatcher.emit_startup(bot=self.bot, **self.workflow)
        self._dispatcher_started = True  # as in aiogram: no shutdown without a startup
        if self.migrate:
            await register_webhook(self.bot, self.dispatcher, self.settings)

    async def stop(self) -> None:
        """Stop listening, drain, shut the Dispatcher down. Safe after a failed start."""
        self.readiness.phase = Phase.STOPPING
        for site in list(self.runner.sites):
            await site.stop()  # no new connections
        if self.runner.server is not None:
            self.runner.server.pre_shutdown()  # idle keep-alive connections close now
        timeout = self.settings.shutdown_timeout
        if len(self.in_flight):
            log.info("waiting for updates in flight", in_flight=len(self.in_flight))
        left = await self.in_flight.drain(timeout)
        if left:
            log.warning(
                "updates still in flight after SHUTDOWN_TIMEOUT; cancelling them "
                "(rolled back, not answered 200: Telegram delivers them again)",
                cancelled=left,
                shutdown_timeout=timeout,
            )
            await self.in_flight.cancel()
        await self.runner.cleanup()  # answers reach their clients; connections close
        self.handler.refusals.flush()
        try:
            if self._dispatcher_started:
                # The routers' hooks (e.g. releasing a broadcast lease) still use the engine;
                # aiogram's own hook closes the storage.
                await self.dispatcher.emit_shutdown(bot=self.bot, **self.workflow)
            else:
                await self.storage.close()
        finally:
            await self.engine.dispose()  # last: every shutdown hook has run
            await self.bot.session.close()


async def run_webhook(settings: Settings, *, migrate: bool) -> None:
    """``python -m app --webhook [--no-migrate]`` until SIGTERM/SIGINT."""
    await WebhookServer(settings, migrate=migrate).run()
