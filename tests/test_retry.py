"""The one retry mechanism behind the database wait, the Redis wait and the migration's
lock-timeout retries: what is retried, how often, how long it sleeps, and how it gives up."""

from __future__ import annotations

import pytest

from app.retry import GaveUpError, retry


class Flaky:
    """Fails with ``error`` the first ``failures`` times, then answers ``"done"``."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def _connection_errors(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


async def test_retries_until_it_succeeds_with_doubling_sleeps() -> None:
    call = Flaky(3)
    told: list[tuple[int, str, float]] = []
    result = await retry(
        call,
        retry_on=_connection_errors,
        on_retry=lambda attempt, error, sleep: told.append((attempt, str(error), sleep)),
        attempts=5,
        first=0.001,
        most=0.003,
    )
    assert (result, call.calls) == ("done", 4)
    assert told == [(1, "failure 1", 0.001), (2, "failure 2", 0.002), (3, "failure 3", 0.003)]


async def test_jitter_adds_at_most_its_amount() -> None:
    sleeps: list[float] = []
    await retry(
        Flaky(4),
        retry_on=_connection_errors,
        on_retry=lambda _attempt, _error, sleep: sleeps.append(sleep),
        attempts=5,
        first=0.001,
        most=0.001,
        jitter=0.002,
    )
    assert len(sleeps) == 4
    assert all(0.001 <= sleep <= 0.003 for sleep in sleeps)


async def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    call = Flaky(10)
    with pytest.raises(GaveUpError) as gave_up:
        await retry(
            call, retry_on=_connection_errors, on_retry=lambda *_: None, attempts=3, first=0.001
        )
    assert (gave_up.value.attempts, call.calls) == (3, 3)
    assert str(gave_up.value.last) == "failure 3"
    assert gave_up.value.__cause__ is gave_up.value.last


async def test_a_time_bound_of_zero_makes_one_attempt() -> None:
    call = Flaky(10)
    with pytest.raises(GaveUpError) as gave_up:
        await retry(call, retry_on=_connection_errors, on_retry=lambda *_: None, within=0)
    assert (gave_up.value.attempts, call.calls) == (1, 1)


async def test_an_error_not_worth_retrying_propagates_at_once() -> None:
    call = Flaky(10, error=PermissionError)  # an OSError, but not a ConnectionError
    told: list[int] = []
    with pytest.raises(PermissionError, match="failure 1"):
        await retry(
            call,
            retry_on=_connection_errors,
            on_retry=lambda attempt, *_: told.append(attempt),
            attempts=5,
        )
    assert (call.calls, told) == (1, [])
