"""aiogram's FSM middleware, except that a pre-checkout query never waits for the user's lock.

Telegram cancels a payment whose pre-checkout query is not answered within 10 seconds. Behind
the user's event lock (:mod:`app.bot.isolation`) it would wait for the user's other updates: a
long stock upload, or a Redis lock left by a replica that was killed holding it (it expires
only after ``ISOLATION_LOCK_SECONDS``). The query needs neither the lock nor the dialog state:
its check is one locked database transaction of its own, bounded in time
(:func:`app.handlers.checkout.pre_checkout`). So it skips both, Redis included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Dispatcher
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject, Update


class PreCheckoutFirst(FSMContextMiddleware):
    """State and the user's event lock for every update but a pre-checkout query."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update) and event.pre_checkout_query is not None:
            data["fsm_storage"] = self.storage
            return await handler(event, data)
        return await super().__call__(handler, event, data)


def exempt_pre_checkout(dispatcher: Dispatcher) -> None:
    """Put :class:`PreCheckoutFirst` where the Dispatcher's FSM middleware is (same storage,
    isolation and strategy; the Dispatcher's shutdown hook still closes them).

    aiogram's middleware manager only appends: every middleware is taken out and registered
    again in the same order (its public ``register``/``unregister`` and ``Sequence``).
    """
    old = dispatcher.fsm
    new = PreCheckoutFirst(
        storage=old.storage, events_isolation=old.events_isolation, strategy=old.strategy
    )
    manager = dispatcher.update.outer_middleware
    registered = list(manager)
    for middleware in registered:
        manager.unregister(middleware)
    for middleware in registered:
        manager.register(new if middleware is old else middleware)
    dispatcher.fsm = new
