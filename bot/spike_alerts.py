"""Spike alerts in storm mode, decided from the store's counts inside the ingest transaction.

Each replica stores its own share of a burst; the counts that decide an alert (a team's
arrivals within its window, an incident's, when each watch last fired) are read from the
store, so every replica sees them all and a restart forgets none. One batch reads each
count once and counts its own mentions up in their order (`Batch`), so an alert fires at
the arrival that crosses the threshold, and costs a few reads a batch, not a mention. Two
replicas that both read "no alert yet" and both record one cannot both commit at
SERIALIZABLE: one is run again, reads the other's alert and stays quiet.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.chat.text import shorten
from bot.domain.spikes import Spike, SpikeSettings, cooling, fires
from bot.domain.spikes import spike_threshold as threshold_of
from bot.playbooks import ChannelRef, Playbooks
from bot.store import attention as store
from bot.store import outbox
from bot.store.sql import Conn

log = logging.getLogger(__name__)

BASELINE_EVERY = timedelta(hours=1)  # how often a team's baseline is counted again


@dataclass
class Batch:
    """What one batch (one transaction) has read of the counts, and counted since."""

    db: Conn
    now: datetime
    new: Counter[str]  # the batch's new mentions per team, all stored before it is placed
    placed: Counter[str] = field(default_factory=Counter)  # of those, placed so far
    before: dict[str, int] = field(default_factory=dict)  # a team's arrivals before the batch
    alerts: dict[str, datetime | None] = field(default_factory=dict)  # last alert per watch

    def last_alert(self, watch: str) -> datetime | None:
        """When this watch last fired: read once, then kept as this batch fires it."""
        if watch not in self.alerts:
            self.alerts[watch] = store.last_alert(self.db, watch=watch)
        return self.alerts[watch]


class SpikeAlerts:
    """Tells a team's channel and leads when its mentions, or one incident's, spike."""

    def __init__(self, *, playbooks: Callable[[], Playbooks]):
        self.playbooks = playbooks
        self._baselines: dict[str, tuple[datetime, int]] = {}  # a slow figure, kept an hour

    def settings(self, team: str) -> SpikeSettings | None:
        """A team's spike settings, or None if it wants no spike alerts."""
        spec = self.playbooks().teams.get(team)
        return spec.spike if spec is not None else SpikeSettings()

    def observe(
        self,
        batch: Batch,
        *,
        team: str,
        number: int,
        incident: int | None,
        channel: str,
        biggest: Callable[[str], int | None],
    ) -> None:
        """Count the arrival of mention `number` for its team (against the team's baseline)
        and its incident (against the floor), and alert on a spike: a team's alert names its
        biggest incident; an incident's own alert is sent when its team's was not, lately."""
        batch.placed[team] += 1
        settings = self.settings(team)
        if settings is None or not channel:
            return  # no alerts wanted, or nowhere to tell them
        db, now, since = batch.db, batch.now, batch.now - settings.window
        told = batch.last_alert(store.team_watch(team))
        if cooling(told, now, settings):
            return  # the team was told lately, of this incident too
        threshold = self._threshold(db, team, now, settings)
        if team not in batch.before:
            stored = store.team_arrivals(
                db, team=team, since=since, at_most=threshold + batch.new[team]
            )
            batch.before[team] = max(0, stored - batch.new[team])
        count = batch.before[team] + batch.placed[team]
        if fires(count, threshold, told, now, settings):
            seen = store.arrivals(db, team=team, since=since, upto=number)
            total = max(count, len(seen))  # `count` reads no further than the threshold
            spike = Spike(store.team_watch(team), total, threshold, seen[0][0] if seen else now)
            self._alert(batch, spike, f"team {team}", team, biggest(team), seen, channel)
            return
        if incident is None:
            return
        watch = store.incident_watch(incident)
        last = batch.last_alert(watch)
        if cooling(last, now, settings):
            return
        grown, onset = store.incident_arrivals(
            db, incident=incident, since=since, at_most=settings.floor
        )
        if fires(grown, settings.floor, last, now, settings):
            seen = store.arrivals(db, team=team, since=since, upto=number)
            spike = Spike(watch, grown, settings.floor, onset or now)
            self._alert(batch, spike, f"incident I{incident}", team, incident, seen, channel)

    def _threshold(self, db: Conn, team: str, now: datetime, settings: SpikeSettings) -> int:
        cached = self._baselines.get(team)
        if cached is not None and now - cached[0] < BASELINE_EVERY:
            return cached[1]
        start = now - settings.baseline
        first = store.first_received(db, team=team)
        until = now - settings.window
        since = max(start, first) if first else until
        count = store.team_count(db, team=team, since=since, until=until) if since < until else 0
        found = threshold_of(count, until - since, settings)
        self._baselines[team] = (now, found)
        return found

    def _alert(
        self,
        batch: Batch,
        spike: Spike,
        what: str,
        team: str,
        incident: int | None,
        seen: list[store.Arrival],
        channel: str,
    ) -> None:
        settings = self.settings(team) or SpikeSettings()
        db, now = batch.db, batch.now
        store.record_spike(
            db,
            watch=spike.key,
            team=team,
            incident=incident,
            count=spike.count,
            threshold=spike.threshold,
            onset=spike.onset,
            now=now,
        )
        batch.alerts[spike.key] = now
        alert = spike_text(what, spike.count, spike.threshold, settings.window, seen, incident, now)
        outbox.enqueue(
            db, kind=outbox.Kind.CHANNEL_NOTE, target=channel, payload={"text": alert}, now=now
        )
        spec = self.playbooks().teams.get(team)
        platform = ChannelRef.parse(channel).platform
        for lead in getattr(spec, "leads", ()):
            outbox.enqueue(
                db,
                kind=outbox.Kind.PRIVATE_NOTE,
                target=platform,
                payload={"person": lead, "text": alert},
                now=now,
            )
        log.warning("spike for %s: %d mentions (threshold %d)", what, spike.count, spike.threshold)


def spike_text(
    what: str,
    count: int,
    threshold: int,
    window: timedelta,
    arrivals: list[tuple[datetime, str, str]],
    incident: int | None,
    now: datetime,
) -> str:
    """The alert: what, how many, which sources, examples, the trend, the incident."""
    minutes = max(1, int(window.total_seconds() // 60))
    sources = Counter(source for _, source, _ in arrivals)
    per_minute = Counter(int((now - at).total_seconds() // 60) for at, _, _ in arrivals)
    trend = " → ".join(str(per_minute.get(m, 0)) for m in range(minutes - 1, -1, -1))
    lines = [
        f"Spike for {what}: {count} new mentions in the last {minutes} min (alert at {threshold}).",
        "Sources: " + ", ".join(f"{s} {n}" for s, n in sources.most_common()),
        f"Per minute: {trend}",
        "Examples:",
        *(f"  • {shorten(text, 140)}" for _, _, text in arrivals[-3:]),
    ]
    if incident is not None:
        lines.append(f"Incident I{incident}: `show I{incident}`, `claim I{incident}`.")
    return "\n".join(lines)
