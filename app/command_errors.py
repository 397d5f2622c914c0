"""How a shop command (``python -m app product|stock|promo …``) stops on an error: one line on
stderr, never a traceback, and an exit code that says whose the error is.

- :data:`EXIT_BAD_INPUT` (2): input the command refuses (a malformed slug, price or code, an
  unknown product, a file that is not text or cannot be read): the operator fixes the command
  line, as after argparse's own usage errors and a bad configuration (``app.cli``).
- :data:`EXIT_FAILURE` (1): the database, the schema or a migration stopped the command, as they
  stop the bot's start.
"""

from __future__ import annotations

import html
import sys

from app.i18n import translator
from app.services.products import ShopInputError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_FAILURE) -> int:
    """Print ``error: message`` on stderr; returns ``code``."""
    sys.stderr.write(f"error: {message}\n")
    return code


def refuse(message: str) -> int:
    """Bad input: the one line, and :data:`EXIT_BAD_INPUT`."""
    return fail(message, EXIT_BAD_INPUT)


def refuse_input(exc: ShopInputError) -> int:
    """The bot's own wording of the error (``owner.error.*``), in English, as plain text."""
    return refuse(html.unescape(translator("en")(f"owner.error.{exc.code}", **exc.params)))
