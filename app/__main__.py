"""``python -m app``: see :mod:`app.cli`."""

import sys

from app import heap

heap.hold()  # until the bot is ready (or a command starts): see app.heap

from app.cli import main  # noqa: E402

sys.exit(main())
