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


class SpikeWatch:
    """Counts arrivals per key (a team, an incident) and fires once per cooldown."""

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
        if len(times) < threshold:
            return None
        last = self._fired.get(key)
        if last is not None and at - last < self.settings.cooldown:
            return None
        self._fired[key] = at
        return Spike(key=key, count=len(times), threshold=threshold, onset=times[0])

    def copy(self) -> SpikeWatch:
        """An independent copy (to put back when what counted in this one is undone)."""
        other = SpikeWatch(self.settings)
        other._times = {key: deque(times) for key, times in self._times.items()}
        other._fired = dict(self._fired)
        return other

    def last_fired(self, key: str) -> datetime | None:
        """When `key` last fired, if it did."""
        return self._fired.get(key)

    def count(self, key: str) -> int:
        """How many arrivals the window holds for `key`."""
        return len(self._times.get(key, ()))
