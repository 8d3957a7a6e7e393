"""Durations as people write them in playbooks and commands: `90s`, `15m`, `4h`, `2d`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `15m`, `4h`, `2d`, `1w` or combinations such as `1h30m`; ValueError if not."""
    cleaned = text.strip().lower()
    if not cleaned or not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 15m, 4h or 2d")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration; it must be longer than zero")
    if seconds > 366 * 86400:
        raise ValueError(f"{text!r} is longer than a year")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Show a duration the short way people read it: `3h 5m`, `2d 4h`, `45s`."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])
