"""Telegram refusing the bot: injected errors, blocked users, chats that were never started."""

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


class Faults:
    store: Store
    _faults: list[Fault]

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given) get this error."""
        error = ApiError(error_code, description, retry_after=retry_after)
        self._faults.append(Fault(canonical(method), error, chat_id, times))

    def block_user(self, chat_id: int) -> None:
        """The user blocked the bot (having started it once): sends get 403 until unblocked."""
        self.store.started.add(chat_id)
        self.store.blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self.store.blocked.discard(chat_id)

    def _inject_fault(self, method: str, params: JSON) -> None:
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, params.get("chat_id")):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                raise fault.error

    def _check_recipient(self, method: str, params: JSON) -> None:
        """A user's private chat takes messages only once they started the bot, and not after
        they blocked it."""
        chat_id = params.get("chat_id")
        if not method.startswith("send") or not isinstance(chat_id, int):
            return
        if chat_id in self.store.blocked:
            raise ApiError(403, BLOCKED)
        if chat_id > 0 and chat_id not in self.store.started:
            raise ApiError(403, NOT_STARTED)
