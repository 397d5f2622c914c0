"""The webhook route's request side: the strict handler and the updates in flight.

An update is answered 200 only after the Dispatcher has finished it (aiogram's
``handle_in_background=False``): an update Telegram saw accepted is never lost by a restart,
and one cut short is rolled back (the per-update transaction) and delivered again. Each update
runs in its own task (:class:`InFlight`), which the server's shutdown waits for
(:mod:`app.bot.webhook`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog
from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from app.bot.health import Readiness
from app.bot.refusals import RefusalLimiter

log = structlog.get_logger("app.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY = 1024 * 1024  # Telegram's updates are far smaller; anything bigger is refused (413)
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
