"""No buyer handler's filter goes through a thread: aiogram runs synchronous filters (a bare
``F.…``) via ``asyncio.to_thread`` on every check, so the shop wraps them in ``Match``.

The owner tools are left out: their router admits owners only (an async filter checked first),
so their dialog-state filters never run for a buyer's update."""

from __future__ import annotations

from aiogram import F, Router

from app.filters.magic import Match
from app.handlers import build_root_router


def _filters(router: Router) -> list[tuple[str, object, bool]]:
    found = []
    for observer in router.observers.values():
        for handler in observer.handlers:
            name = getattr(handler.callback, "__qualname__", repr(handler.callback))
            found += [(name, f.callback, f.awaitable) for f in handler.filters or []]
    for sub in router.sub_routers:
        if not sub.name.startswith("app.handlers.admin"):
            found += _filters(sub)
    return found


def test_every_buyer_filter_runs_on_the_event_loop() -> None:
    filters = _filters(build_root_router())
    assert len(filters) > 10  # the walk saw the handlers
    assert [(name, callback) for name, callback, awaitable in filters if not awaitable] == []


def test_the_measure_sees_a_bare_magic_filter() -> None:
    """Negative control: a bare magic filter is one aiogram would run in a thread."""
    router = Router()
    router.message(F.text)(lambda message: None)
    router.message(Match(F.text))(lambda message: None)
    assert [awaitable for _, _, awaitable in _filters(router)] == [False, True]


async def test_match_resolves_the_rule() -> None:
    from aiogram.types import Chat, Message  # noqa: PLC0415

    message = Message.model_validate(
        {"message_id": 1, "date": 0, "chat": Chat(id=1, type="private"), "text": "hi"}
    )
    assert await Match(F.text == "hi")(message) is True
    assert await Match(F.successful_payment)(message) is False
