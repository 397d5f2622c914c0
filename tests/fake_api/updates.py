"""The pending-updates queue: getUpdates long polling and the webhook settings.

Long polls wait on an ``asyncio.Event`` that every push, webhook change, competing poll and
shutdown sets, so an update reaches a waiting poll with no added latency.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from tests.fake_api.protocol import JSON, ApiError, ApiRequest, bad_request, integer_arg

# Update types Telegram only delivers when listed explicitly in allowed_updates.
_OPT_IN_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
LONG_POLL_MAX_TIMEOUT = 50  # seconds, as in telegram-bot-api/Client.h
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def update_type(update: JSON) -> str:
    return next((key for key in update if key != "update_id"), "")


class UpdateQueue:
    def __init__(self) -> None:
        self.pending: list[JSON] = []
        self.allowed_updates: list[str] = []
        self.webhook: JSON = {}
        self.closed = False
        self._last_id = 0
        self._wake = asyncio.Event()
        self._poller: object | None = None

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def push(self, update: JSON) -> int:
        if "update_id" not in update:
            update["update_id"] = self.next_id()
        self._last_id = max(self._last_id, int(update["update_id"]))
        # Telegram keeps no update of a type the bot's allowed_updates leaves out at the time the
        # update is created; one created before a change of the setting is still delivered.
        if self._allowed(update):
            self.pending.append(update)
            self._notify()
        return int(update["update_id"])

    def close(self) -> None:
        """Release every waiting long poll (they answer with what is pending, maybe nothing)."""
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _allowed(self, update: JSON) -> bool:
        kind = update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _OPT_IN_TYPES

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def _take(self, limit: int) -> list[JSON]:
        return self.pending[:limit]

    async def get_updates(self, request: ApiRequest) -> list[JSON]:
        params = request.params
        offset = integer_arg(params.get("offset"), 0)
        limit = integer_arg(params.get("limit"), 100, low=1, high=100)
        timeout = integer_arg(params.get("timeout"), 0, low=0, high=LONG_POLL_MAX_TIMEOUT)
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])
        if self.webhook.get("url"):
            raise ApiError(409, WEBHOOK_CONFLICT)
        if offset:
            self._confirm(offset)
        me = object()
        if self._poller is not None:
            self._notify()  # the older request answers 409
        self._poller = me
        try:
            return await self._long_poll(me, limit, timeout)
        finally:
            if self._poller is me:
                self._poller = None

    async def _long_poll(self, me: object, limit: int, seconds: float) -> list[JSON]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            wake = self._wake
            if self._poller is not me:
                raise ApiError(409, POLL_CONFLICT)
            if self.webhook.get("url"):
                raise ApiError(409, WEBHOOK_CONFLICT)
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or self.closed or remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                pass

    # --- webhook -------------------------------------------------------------------------

    async def set_webhook(self, request: ApiRequest) -> bool:
        params = request.params
        url = str(params.get("url") or "")
        if not url:
            return await self.delete_webhook(request)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (parts.port or 443) not in _WEBHOOK_PORTS:
            ports = "80, 88, 443 or 8443"
            raise bad_request(f"bad webhook: Webhook can be set up only on ports {ports}")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates") is True:
            self.pending.clear()
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": int(params.get("max_connections") or 40),
            "ip_address": params.get("ip_address"),
        }
        self._notify()
        return True

    async def delete_webhook(self, request: ApiRequest) -> bool:
        if request.params.get("drop_pending_updates") is True:
            self.pending.clear()
        self.webhook = {}
        self._notify()
        return True

    async def webhook_info(self, _: ApiRequest) -> JSON:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
        if info["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
        return info
