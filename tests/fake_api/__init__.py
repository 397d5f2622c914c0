"""A faithful fake Telegram Bot API server for the tests and benchmarks."""

from tests.fake_api.protocol import ApiError, Call, WaitTimeoutError
from tests.fake_api.server import FakeBotAPI

__all__ = ["ApiError", "Call", "FakeBotAPI", "WaitTimeoutError"]
