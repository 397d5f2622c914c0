"""Telegram refusing the bot: injected errors (the Bot API's JSON errors, answered at once or
slowly; a proxy's non-JSON page; a failing file download), blocked users, chats that were
never started."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fake_api.protocol import JSON, ApiError, canonical
from tests.fake_api.store import Store

BLOCKED = "Forbidden: bot was blocked by the user"
NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"


@dataclass
class Fault:
    method: str
    error: ApiError
    chat_id: int | None
    times: int
    delay: float = 0.0  # seconds before the error is answered (a slow upstream)
    page: str | None = None  # a non-JSON body (an HTML page from a proxy) instead of the JSON


@dataclass
class DownloadFault:
    status: int
    times: int


class Faults:
    store: Store
    _faults: list[Fault]
    _download_faults: list[DownloadFault]

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        page: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given) get this error,
        after ``delay`` seconds; with ``page``, as that text/html body instead of the Bot
        API's JSON (what a proxy in front of the Bot API answers with a 502, for example)."""
        error = ApiError(error_code, description, retry_after=retry_after)
        self._faults.append(Fault(canonical(method), error, chat_id, times, delay, page))

    def fail_downloads(self, status: int, *, times: int = 1) -> None:
        """The next ``times`` file downloads (``/file/bot<token>/<path>``) get this HTTP
        status, with the JSON error the Bot API server answers there."""
        self._download_faults.append(DownloadFault(status, times))

    def _download_fault(self) -> ApiError | None:
        if not self._download_faults:
            return None
        fault = self._download_faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._download_faults.pop(0)
        reasons = {404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway"}
        return ApiError(fault.status, reasons.get(fault.status, "Error"))

    def block_user(self, chat_id: int) -> None:
        """The user blocked the bot (having started it once): sends get 403 until unblocked."""
        self.store.started.add(chat_id)
        self.store.blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self.store.blocked.discard(chat_id)

    def _inject_fault(self, method: str, params: JSON) -> Fault | None:
        """The fault this call gets (taken off the list once used up), if any."""
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, params.get("chat_id")):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_recipient(self, method: str, params: JSON) -> None:
        """A user's private chat takes messages only once they started the bot, and neither
        messages nor edits after they blocked it."""
        chat_id = params.get("chat_id")
        if not method.startswith(("send", "edit")) or not isinstance(chat_id, int):
            return
        if chat_id in self.store.blocked:
            raise ApiError(403, BLOCKED)
        if method.startswith("edit"):
            return
        if chat_id > 0 and chat_id not in self.store.started:
            raise ApiError(403, NOT_STARTED)
