"""The garbage collector around start-up.

Importing aiogram builds pydantic models for the whole Bot API, and SQLAlchemy, Alembic and the
handlers add their own: a few hundred thousand objects that live as long as the process. With
the collector on, every full collection during start-up walks all of them again, which costs
about a fifth of the time to the first update. So the entry point holds collections while the
process starts, and :func:`settle` then freezes what start-up built (``gc.freeze``: later
collections skip those objects, for the rest of the process) and turns the collector back on.
"""

from __future__ import annotations

import gc


def hold() -> None:
    """Before the imports: no collections until :func:`settle`."""
    gc.disable()


def settle() -> None:
    """Start-up is done: freeze what it built and collect as usual again.

    Does nothing unless :func:`hold` ran (as in tests, which run the bot inside pytest).
    """
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()
