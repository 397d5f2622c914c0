"""The router tree is built anew for each Dispatcher: a process may build several (the tests do,
one per running bot), and the release step only asks a tree for the update types it handles."""

from __future__ import annotations

from aiogram import Dispatcher, Router

from app.handlers import build_root_router


def _tree(router: Router) -> list[Router]:
    return [router, *(r for sub in router.sub_routers for r in _tree(sub))]


def test_each_build_is_a_new_tree_that_two_dispatchers_can_own() -> None:
    first, second = build_root_router(), build_root_router()
    assert {id(r) for r in _tree(first)}.isdisjoint(id(r) for r in _tree(second))
    assert [r.name for r in _tree(first)] == [r.name for r in _tree(second)]
    one, two = Dispatcher(), Dispatcher()
    one.include_router(first)
    two.include_router(second)  # a shared module-level router would raise here
    assert first.parent_router is one and second.parent_router is two


def test_the_update_types_of_the_tree_are_the_dispatchers() -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(build_root_router())
    alone = build_root_router().resolve_used_update_types()
    assert alone == dispatcher.resolve_used_update_types()
    assert {"message", "callback_query", "pre_checkout_query"} <= set(alone)
