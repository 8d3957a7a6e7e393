"""Draw the Teams app icons (color.png 192x192, outline.png 32x32) with the standard library.

Teams wants a full-colour icon and a white outline icon on a transparent background.
Run `python docs/teams/make_icons.py` to redraw them; the PNGs are committed.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEAL = (31, 122, 109, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)
Pixel = tuple[int, int, int, int]


def png(size: int, paint: Callable[[float, float], Pixel]) -> bytes:
    """An RGBA PNG of `size` x `size`, each pixel painted at its centre (0..1 coordinates)."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            rows.extend(paint((x + 0.5) / size, (y + 0.5) / size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def hands(x: float, y: float) -> bool:
    """The mark: a ring of five hands (dots) around a centre, everyone answering together."""
    r = math.hypot(x - 0.5, y - 0.5)
    if r < 0.12:
        return True
    for i in range(5):
        angle = -math.pi / 2 + i * 2 * math.pi / 5
        cx, cy = 0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)
        if math.hypot(x - cx, y - cy) < 0.09:
            return True
    return False


def main() -> None:
    """Write both icons next to the manifest."""
    (HERE / "color.png").write_bytes(png(192, lambda x, y: WHITE if hands(x, y) else TEAL))
    (HERE / "outline.png").write_bytes(png(32, lambda x, y: WHITE if hands(x, y) else CLEAR))


if __name__ == "__main__":
    main()
