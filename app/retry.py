"""One retry mechanism for the waits at start-up and the migration's lock-timeout retries.

tenacity does the work: exponential backoff (``first``, doubling, capped at ``most``), an
optional random jitter on top, and a bound either in seconds (``within``: no attempt starts
after it, and no sleep runs past it) or in ``attempts``. Callers say which errors are worth
another attempt, and turn :class:`GaveUpError` into their own one-line message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    stop_never,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

T = TypeVar("T")
OnRetry = Callable[[int, BaseException, float], None]  # (attempt, error, seconds to sleep)


class GaveUpError(Exception):
    """The last error was worth retrying, but the bound was reached."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    retry_on: Callable[[BaseException], bool],
    on_retry: OnRetry,
    within: float | None = None,
    attempts: int | None = None,
    first: float = 0.2,
    most: float = 5.0,
    jitter: float = 0.0,
) -> T:
    """Await ``call()`` until it succeeds.

    An error ``retry_on`` accepts is retried (``on_retry`` is told first) until the bound;
    then :class:`GaveUpError` is raised from it. Any other error propagates at once.
    """
    bounds: list[stop_base] = []
    if within is not None:
        bounds.append(stop_before_delay(within))
    if attempts is not None:
        bounds.append(stop_after_attempt(attempts))
    made = 0

    async def attempt() -> T:
        nonlocal made
        made += 1
        return await call()

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        on_retry(state.attempt_number, error, state.upcoming_sleep)

    retrying = AsyncRetrying(
        stop=stop_any(*bounds) if bounds else stop_never,
        wait=wait_exponential(multiplier=first, max=most) + wait_random(0, jitter),
        retry=retry_if_exception(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except Exception as exc:
        if not retry_on(exc):
            raise
        raise GaveUpError(made, exc) from exc
