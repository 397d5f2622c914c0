"""A faithful fake of the Telegram Bot API on a loopback port, for tests and benchmarks.

Point aiogram at it with ``TelegramAPIServer.from_base(api.url)``; drive the bot with the
update builders (``message``, ``callback_query``, ...) and inspect what it did through
``calls``, ``calls_of``, ``sent_to`` and ``wait_for``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from tests.fake_api.builders import UpdateBuilders
from tests.fake_api.faults import DownloadFault, Fault, Faults
from tests.fake_api.methods import Handler, Methods
from tests.fake_api.payments import Payments
from tests.fake_api.protocol import (
    JSON,
    ApiError,
    Call,
    WaitTimeoutError,
    canonical,
    check_required,
    read_request,
    resolve_method,
)
from tests.fake_api.stars import StarLedger
from tests.fake_api.store import Store
from tests.fake_api.updates import UpdateQueue

Hook = Callable[[JSON], Awaitable[None] | None]
Predicate = Callable[[JSON], bool]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
UNKNOWN_METHOD = "Not Found: method not found"  # telegram-bot-api/Client.cpp, Client::on_cmd


@dataclass
class _Waiter:
    method: str
    predicate: Predicate | None
    future: asyncio.Future[JSON]


def _matches(predicate: Predicate | None, params: JSON) -> bool:
    if predicate is None:
        return True
    try:
        return bool(predicate(params))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False


class FakeBotAPI(UpdateBuilders, Faults):
    """The fake Bot API server and everything it recorded."""

    def __init__(
        self,
        token: str = "123456:TEST-token",  # noqa: S107 - a fake token for a fake server
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the fake Bot API only listens on loopback, not {host!r}")
        self.token = token
        self.host = host
        self.port = port
        self.url = ""
        prefix = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(prefix) if prefix.isdigit() else 123456,
            "is_bot": True,
            "first_name": "Fake Shop",
            "username": "fake_shop_bot",
        }
        self.calls: list[Call] = []
        self.hook_errors: list[BaseException] = []
        self.unimplemented: list[str] = []  # methods called that the fake cannot answer
        self.store = Store(self.bot_user)
        self.updates = UpdateQueue()
        self.ledger = StarLedger()
        self._hooks: dict[str, list[Hook]] = {}
        self._faults: list[Fault] = []
        self._download_faults: list[DownloadFault] = []
        self._waiters: list[_Waiter] = []
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Handler] = {
            **Methods(self.store).table(),
            **Payments(self.store, self.ledger).table(),
            "getUpdates": self.updates.get_updates,
            "setWebhook": self.updates.set_webhook,
            "deleteWebhook": self.updates.delete_webhook,
            "getWebhookInfo": self.updates.webhook_info,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        self.updates.closed = False

    async def stop(self) -> None:
        """Release pending long polls, shut the server down, then fail the test for what went
        wrong on the fake's side: a failed hook, or a method the fake does not implement."""
        await self._shutdown()
        if self.hook_errors:
            raise AssertionError("an on_call hook failed") from self.hook_errors[0]
        if self.unimplemented:
            names = ", ".join(dict.fromkeys(self.unimplemented))
            raise AssertionError(
                f"the bot called methods the fake Bot API does not answer: {names}"
            )

    async def _shutdown(self) -> None:
        self.updates.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.stop()
        else:
            await self._shutdown()

    # --- HTTP --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        spec = resolve_method(request.match_info["method"])
        handler = self._handlers.get(spec.name) if spec else None
        if spec is None or handler is None:
            # Telegram's answer to a method it does not know; the test fails in stop().
            self.unimplemented.append(spec.name if spec else request.match_info["method"])
            return ApiError(404, UNKNOWN_METHOD).response()
        try:
            api_request = await read_request(request, spec)
            self._record(spec.name, api_request.params)
            await self._run_hooks(spec.name, api_request.params)
            if (fault := self._inject_fault(spec.name, api_request.params)) is not None:
                return await self._fault_response(fault)
            check_required(spec, api_request.params)
            self._check_recipient(spec.name, api_request.params)
            result = await handler(api_request)
        except ApiError as error:
            return error.response()
        return web.json_response({"ok": True, "result": result})

    async def _fault_response(self, fault: Fault) -> web.Response:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.page is not None:
            status = fault.error.error_code
            return web.Response(status=status, text=fault.page, content_type="text/html")
        return fault.error.response()

    async def _download(self, request: web.Request) -> web.Response:
        stored = self.store.files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return ApiError(404, "Not Found").response()
        if (error := self._download_fault()) is not None:
            return error.response()
        return web.Response(body=stored.content, content_type=stored.mime_type)

    async def _not_found(self, _: web.Request) -> web.Response:
        return ApiError(404, "Not Found").response()

    def _record(self, method: str, params: JSON) -> None:
        self.calls.append(Call(method, params, time.monotonic()))
        for waiter in self._waiters:
            done = waiter.future.done()
            if waiter.method == method and not done and _matches(waiter.predicate, params):
                waiter.future.set_result(params)

    async def _run_hooks(self, method: str, params: JSON) -> None:
        for hook in self._hooks.get(method, []):
            try:
                outcome = hook(params)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as error:  # reported by stop(); the bot sees a server error
                self.hook_errors.append(error)
                reason = f"Internal Server Error: on_call hook failed: {error!r}"
                raise ApiError(500, reason) from None

    # --- inspection --------------------------------------------------------------------

    def calls_of(self, method: str) -> list[JSON]:
        name = canonical(method)
        return [call.params for call in self.calls if call.method == name]

    def sent_to(self, chat_id: int) -> list[JSON]:
        """Messages the bot sent or edited in that chat (as returned to it), oldest first."""
        return [message for chat, message in self.store.sent if chat == chat_id]

    @property
    def stars_refunds(self) -> list[JSON]:
        return self.store.stars_refunds

    @property
    def pre_checkout_answers(self) -> dict[str, JSON]:
        """pre_checkout_query_id -> {"ok": ..., "error_message": ...} of accepted answers."""
        return self.store.pre_checkout_answers

    async def wait_for(
        self,
        method: str,
        predicate: Predicate | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the documented interface
    ) -> JSON:
        """Params of the first call of ``method`` matching ``predicate``, past or future."""
        name = canonical(method)
        for call in self.calls:
            if call.method == name and _matches(predicate, call.params):
                return call.params
        waiter = _Waiter(name, predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            recent = "\n".join(
                f"  {call.method} {json.dumps(call.params, ensure_ascii=False, default=str)[:300]}"
                for call in self.calls[-20:]
            )
            condition = " matching the predicate" if predicate else ""
            raise WaitTimeoutError(
                f"no {name} call{condition} within {timeout}s; recent calls:\n"
                + (recent or "  (none)")
            ) from None
        finally:
            self._waiters.remove(waiter)

    def on_call(self, method: str, hook: Hook) -> None:
        self._hooks.setdefault(canonical(method), []).append(hook)

    # --- files ------------------------------------------------------------------------

    def add_file(
        self, content: bytes, file_name: str = "stock.txt", mime_type: str = "text/plain"
    ) -> JSON:
        """Register a downloadable file; returns a Document object usable in ``message()``."""
        return self.store.add_file(content, file_name, mime_type).document()

    def file_content(self, file_id: str) -> bytes:
        """Bytes of a registered or uploaded file (e.g. a document the bot sent)."""
        return self.store.files[file_id].content
