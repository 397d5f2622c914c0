"""Owner tools. Only users in ADMIN_IDS, in their private chat with the bot, reach these
handlers; for anyone else (and in a group) they do not exist, and the update falls through to
the unknown-command reply (never given in a group).

The owner filter sits on this router's message and callback-query observers: aiogram checks
such root filters before any handler of this router or of its sub-routers.
"""

from __future__ import annotations

from aiogram import Router

from app.filters.admin import IsAdmin
from app.handlers.admin import (
    bans,
    broadcast,
    catalog,
    edit,
    exports,
    menu,
    promo,
    referrals,
    reviews,
    sales,
    stock,
    stock_files,
)


def router() -> Router:
    """The owner tools on a new router, behind the owner filter."""
    owner = Router(name=__name__)
    owner.message.filter(IsAdmin())
    owner.callback_query.filter(IsAdmin())
    owner.include_routers(
        menu.router(),
        catalog.router(),
        edit.router(),
        stock.router(),
        stock_files.router(),
        sales.router(),
        broadcast.router(),
        bans.router(),
        exports.router(),
        reviews.router(),
        promo.router(),
        referrals.router(),
    )
    return owner
