"""The owner's password: an argon2id hash (argon2-cffi's defaults), checked off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str, password: str) -> bool:
    """Argon2 costs tens of milliseconds of CPU by design: it runs in a worker thread."""
    return await asyncio.to_thread(_verify, stored_hash, password)
