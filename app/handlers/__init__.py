"""Feature routers, one module each, collected in one place. Order matters: the owner tools
come before the fallback, which answers anything no other router took.

The shop talks in private chats only: messages and button presses from groups and channels
reach no router (:class:`app.filters.chats.PrivateChat`, a root filter)."""

from __future__ import annotations

from aiogram import Router

from app.filters.chats import PrivateChat
from app.handlers import (
    admin,
    alerts,
    cart,
    catalog,
    checkout,
    errors,
    fallback,
    info,
    promo,
    purchases,
    referrals,
    reviews,
    search,
    start,
)


def build_root_router() -> Router:
    """A new tree of every feature's router: each Dispatcher (a process may build several:
    the tests do) and the release step's list of update types get their own."""
    root = Router(name="root")
    root.message.filter(PrivateChat())
    root.callback_query.filter(PrivateChat())
    root.include_routers(
        errors.router(),
        start.router(),
        catalog.router(),
        checkout.router(),
        cart.router(),
        promo.router(),
        referrals.router(),
        purchases.router(),
        info.router(),
        search.router(),
        reviews.router(),
        alerts.router(),
        admin.router(),
        fallback.router(),  # last: answers whatever nobody else took
    )
    return root
