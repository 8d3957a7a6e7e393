"""Spikes: a rate of arrivals against a baseline, with a floor and a cooldown. Pure."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    """When a rate is a spike: `sensitivity` times the baseline rate, at least `floor`
    mentions within `window`; after an alert, none again for `cooldown`."""

    window: timedelta = timedelta(minutes=5)
    baseline: timedelta = timedelta(days=7)
    sensitivity: float = 3.0
    floor: int = 20
    cooldown: timedelta = timedelta(hours=1)


def spike_threshold(baseline_count: int, baseline_span: timedelta, settings: SpikeSettings) -> int:
    """How many mentions within the window make a spike, given the history known."""
    span = max(baseline_span, settings.window)
    expected = baseline_count * (settings.window / span)
    return max(settings.floor, math.ceil(expected * settings.sensitivity))


@dataclass(frozen=True, slots=True)
class Spike:
    """A spike that fired: how many within the window, against what threshold."""

    key: str
    count: int
    threshold: int
    onset: datetime


def cooling(last_fired: datetime | None, now: datetime, settings: SpikeSettings) -> bool:
    """Whether an alert that fired at `last_fired` still holds others back at `now`."""
    return last_fired is not None and now - last_fired < settings.cooldown


def fires(
    count: int, threshold: int, last_fired: datetime | None, now: datetime, settings: SpikeSettings
) -> bool:
    """Whether `count` arrivals within the window make an alert now: at the threshold or
    above, and out of the last alert's cooldown."""
    return count >= threshold and not cooling(last_fired, now, settings)


class SpikeWatch:
    """Counts arrivals per key in memory and fires once per cooldown: the rules above for
    one process's simulations (benchmarks/grouping.py). The bot counts in the store."""

    def __init__(self, settings: SpikeSettings | None = None):
        self.settings = settings or SpikeSettings()
        self._times: dict[str, deque[datetime]] = {}
        self._fired: dict[str, datetime] = {}

    def observe(self, key: str, at: datetime, *, threshold: int) -> Spike | None:
        """Count one arrival; a Spike if the window now holds `threshold` or more."""
        times = self._times.setdefault(key, deque())
        times.append(at)
        since = at - self.settings.window
        while times and times[0] < since:
            times.popleft()
        if not fires(len(times), threshold, self._fired.get(key), at, self.settings):
            return None
        self._fired[key] = at
        return Spike(key=key, count=len(times), threshold=threshold, onset=times[0])
