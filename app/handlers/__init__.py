"""Feature routers, one module each, collected in one place. Order matters: the owner tools
come before the fallback, which answers anything no other router took."""

from __future__ import annotations

from aiogram import Router

from app.handlers import (
    admin,
    catalog,
    checkout,
    errors,
    fallback,
    info,
    purchases,
    reviews,
    search,
    start,
)


def _adopt(root: Router, *routers: Router) -> None:
    """Include module-level routers, moving them from a previous root if there was one.

    A router has one parent; a process that builds a second Dispatcher (the tests, the
    benchmarks) re-parents them to the newest root instead of failing.
    """
    for router in routers:
        previous = router.parent_router
        if previous is not None:
            previous.sub_routers.remove(router)
            router._parent_router = None
    root.include_routers(*routers)


def build_root_router() -> Router:
    root = Router(name="root")
    root.include_router(errors.build_router())
    _adopt(
        root,
        start.router,
        catalog.router,
        checkout.router,
        purchases.router,
        info.router,
        search.router,
        reviews.router,
        admin.router,
        fallback.router,  # last: answers whatever nobody else took
    )
    return root
