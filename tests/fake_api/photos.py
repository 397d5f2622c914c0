"""Photos as ``sendPhoto`` takes them: the checks Telegram makes and the PhotoSize list it
answers with (https://core.telegram.org/bots/api#sendphoto: "The photo must be at most 10 MB
in size. The photo's width and height must not exceed 10000 in total. Width and height ratio
must be at most 20")."""

from __future__ import annotations

import struct

from tests.fake_api.protocol import JSON, bad_request
from tests.fake_api.store import StoredFile

MAX_PHOTO_SIZE = 10 * 1024 * 1024
MAX_SIDES = 10_000
MAX_RATIO = 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"


def _dimensions(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG (its IHDR chunk) or a JPEG (its first SOF marker)."""
    if content.startswith(PNG_SIGNATURE) and content[12:16] == b"IHDR" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return width, height
    if content.startswith(JPEG_START):
        at = 2
        while at + 9 <= len(content) and content[at] == 0xFF:
            marker, length = content[at + 1], struct.unpack(">H", content[at + 2 : at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", content[at + 5 : at + 9])
                return width, height
            at += 2 + length
    return None


def check_photo(stored: StoredFile) -> list[JSON]:
    if len(stored.content) > MAX_PHOTO_SIZE:
        raise bad_request("file is too big")
    dimensions = _dimensions(stored.content)
    if dimensions is None or 0 in dimensions:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = dimensions
    if width + height > MAX_SIDES or max(width, height) > MAX_RATIO * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    sizes = []
    for scale, suffix in ((320, "m"), (800, "x"), (1280, "y")):
        factor = min(1.0, scale / max(width, height))
        sizes.append(
            {
                "file_id": f"{stored.file_id}_{suffix}",
                "file_unique_id": f"{stored.file_unique_id}{suffix}",
                "file_size": len(stored.content),
                "width": max(1, round(width * factor)),
                "height": max(1, round(height * factor)),
            }
        )
        if factor == 1.0:
            break
    sizes[-1]["file_id"] = stored.file_id  # the largest is the upload itself
    sizes[-1]["file_unique_id"] = stored.file_unique_id
    return sizes
