"""Storm mode: mentions about the same thing become one incident with one card, spikes are
told to the team, and a channel's attention budget rolls extra cards up into one message.

`IncidentDesk.place` runs inside the ingest transaction, on the store's writer thread (so
its in-memory grouping is only ever changed by one thread, in the order of the mentions);
`deliver_summary` is how the outbox worker draws an incident's card or a roll-up. The chat
budget and the spike watch keep nothing in memory: they count in the store, in the same
transaction, so replicas share them and a restart keeps them (bot/spike_alerts.py).

The grouping lives in memory but must agree with the store. A transaction that rolls back
(any failed write; on PostgreSQL also one run again after losing a race) marks it stale,
and the next `place` groups the window again from the store. On PostgreSQL other replicas
store mentions too: each `place` first groups, in the same transaction, the window's
mentions it has not seen, and groups everything again when the open incidents are not the
ones it knows. At SERIALIZABLE two replicas placing at once read each other's new rows, so
one is run again and sees the other's (tests/test_incident_replicas.py shows it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.incidents import Budget, Grouper, GroupingSettings, OwnCard, Post
from bot.domain.mentions import Item, Triage
from bot.playbooks import Playbooks
from bot.spike_alerts import Batch, SpikeAlerts
from bot.store import attention, sql
from bot.store import incidents as store
from bot.store.db import Database
from bot.store.mentions import Ingested
from bot.store.sql import Conn

log = logging.getLogger(__name__)

ROLLED_UP = "rolled up: the channel's budget is spent"
CARD_EVERY = timedelta(seconds=30)  # an incident's card is drawn again at most this often


def rollup_key(channel: str) -> str:
    """The key of a channel's roll-up message."""
    return f"rollup:{channel}"


class IncidentDesk:
    """Groups arriving mentions into incidents, watches for spikes, keeps chat budgets."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        grouping: GroupingSettings | None = None,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.grouper = Grouper(grouping)
        self.cluster_incident: dict[int, int] = {}
        self.incident_cluster: dict[int, int] = {}
        self.stale = False  # a transaction that changed the grouping rolled back
        self._grouped: set[int] = set()  # PostgreSQL: the window's mentions grouped here
        self._open: set[int] = set()  # PostgreSQL: the open incidents as last seen
        self.spikes = SpikeAlerts(playbooks=playbooks)

    # Settings from the playbooks, per team.

    def own_card(self, team: str) -> OwnCard:
        """Which members of the team's incidents still get their own card."""
        spec = self.playbooks().teams.get(team)
        return spec.own_card if spec is not None else OwnCard()

    def budget(self, channel: str) -> Budget:
        """A channel's attention budget: that of the (first) team posting there."""
        for team in self.playbooks().teams.values():
            if str(team.channel) == channel:
                return team.chat_budget
        return Budget()

    # Start-up.

    async def rebuild(self) -> None:
        """Group the recent mentions again after a restart (the same order gives the same
        clusters), and point each cluster at its open incident."""
        await self.database.write(self._rebuild, now=self.clock.now())

    def _rebuild(self, db: Conn, *, now: datetime, placing: frozenset[int] = frozenset()) -> None:
        """Group the window's mentions afresh from the store (but those being `placing`)."""
        sql.on_rollback(db, self.mark_stale)
        self.grouper = Grouper(self.grouper.settings)
        self.cluster_incident.clear()
        self.incident_cluster.clear()
        rows = store.recent_mentions(db, since=now - self.grouper.settings.window)
        self._open = store.open_numbers(db)
        self._regroup([r for r in rows if r["number"] not in placing])
        self._grouped = {r["number"] for r in rows} | placing
        self.stale = False
        log.info("incidents: %d recent mentions grouped again", len(rows))

    def mark_stale(self) -> None:
        """What a rolled-back transaction grouped is not so: group again from the store."""
        self.stale = True

    def _regroup(self, rows: list[dict[str, Any]]) -> None:
        """Group stored mentions, and point their clusters at their open incidents; those of
        a closed incident stay out (as `forget` leaves them)."""
        for row in rows:
            if row["incident"] is not None and row["incident"] not in self._open:
                continue
            post = Post(
                key=row["number"],
                text=row["text"],
                at=datetime.fromisoformat(row["received_at"]),
                author=f"{row['source']}:{row['author_handle']}",
                url=row["url"],
            )
            placed = self.grouper.add(post)
            for gone in placed.absorbed:  # the incidents were merged where it happened
                lost = self.cluster_incident.pop(gone, None)
                if lost is not None and placed.cluster not in self.cluster_incident:
                    self._link(placed.cluster, lost)
            if row["incident"] in self._open:
                self._link(placed.cluster, row["incident"])

    def _catch_up(self, db: Conn, *, now: datetime, placing: frozenset[int]) -> None:
        """PostgreSQL: group what other replicas stored in the window since (or everything
        again when incidents were opened, merged or closed elsewhere)."""
        if store.open_numbers(db) != self._open:
            self._rebuild(db, now=now, placing=placing)
            return
        stored = store.recent_numbers(db, since=now - self.grouper.settings.window)
        missing = sorted(stored - self._grouped - placing)
        if missing:
            self._regroup(store.mentions_numbered(db, numbers=missing))
            log.info("incidents: %d mentions from other replicas grouped", len(missing))
        self._grouped = stored | placing

    def _link(self, cluster: int, incident: int) -> None:
        self.cluster_incident[cluster] = incident
        self.incident_cluster[incident] = cluster

    def relink(self, gone: int, into: int) -> None:
        """`gone` was merged into `into`: what would have joined it joins `into`."""
        self._open.discard(gone)
        cluster = self.incident_cluster.pop(gone, None)
        if cluster is not None:
            self.cluster_incident[cluster] = into

    def forget(self, incident: int) -> None:
        """An incident is closed: its cluster starts afresh."""
        self._open.discard(incident)
        cluster = self.incident_cluster.pop(incident, None)
        if cluster is not None:
            self.cluster_incident.pop(cluster, None)
            self.grouper.remove(cluster)

    # Arrivals (inside the ingest transaction).

    def place(
        self,
        db: Conn,
        *,
        source: str,
        results: list[Ingested],
        items: list[tuple[Item, Triage]],
        now: datetime,
        channel_of: dict[str, str],
    ) -> None:
        """Group each new mention, hold back the cards its incident shows, keep the budget,
        and alert on spikes."""
        sql.on_rollback(db, self.mark_stale)
        placing = frozenset(
            r.number for r in results if r.number is not None and r.root is None and not r.duplicate
        )
        new = Counter(
            triage.team
            for r, (_, triage) in zip(results, items, strict=True)
            if r.number is not None and r.root is None and not r.duplicate
        )
        batch = Batch(db=db, now=now, new=new)
        spent: dict[str, int] = {}  # cards the budget let through, per channel, as read
        if self.stale:
            self._rebuild(db, now=now, placing=placing)
        elif db.dialect == sql.POSTGRESQL:
            self._catch_up(db, now=now, placing=placing)
        touched: set[int] = set()
        for result, (item, triage) in zip(results, items, strict=True):
            if result.root is not None and result.number is not None:
                store.surface_follow_up(
                    db, root=result.root, follow_up=result.number, now=now, channel_of=channel_of
                )
                continue
            if result.number is None or result.duplicate:
                continue
            number, team = result.number, triage.team
            channel = channel_of.get(team, "")
            text = f"{item.title}\n{item.text}" if item.title else item.text
            author = f"{source}:{item.author.handle}"
            placed = self.grouper.add(Post(number, text, now, author, item.url))
            for gone in placed.absorbed:
                self._absorbed(db, gone, placed.cluster, now, touched)
            own = self.own_card(team)
            notable = (item.author.audience or 0) > own.audience_over or (
                triage.urgency in own.urgencies
            )
            incident = self.cluster_incident.get(placed.cluster)
            if incident is None and placed.incident and channel:
                found = store.create(
                    db,
                    team=team,
                    channel=channel,
                    why=" · ".join(self.grouper.why(placed.cluster)),
                    now=now,
                )
                incident = found.number
                self._open.add(incident)
                self._link(placed.cluster, incident)
                cluster = self.grouper.clusters[placed.cluster]
                store.add_members(db, incident=incident, mentions=list(cluster.members), now=now)
                held = store.pending_cards(
                    db,
                    mentions=[m for m in cluster.members if m != number],
                    now=now,
                    keep=(own.audience_over, own.urgencies),
                )
                if attention.refund(db, mentions=held):  # never posted: the budget has room
                    spent.pop(channel, None)
                log.info("incident I%d opened for team %s: %s", incident, team, found.why)
            elif incident is not None:
                store.add_members(
                    db,
                    incident=incident,
                    mentions=[number],
                    now=now,
                    own_card={number} if notable else set(),
                )
                if len(self.grouper.clusters[placed.cluster].members) % 50 == 0:
                    store.update(
                        db,
                        number=incident,
                        now=now,
                        why=" · ".join(self.grouper.why(placed.cluster)),
                    )
            if incident is not None:
                touched.add(incident)
                if not notable:
                    store.pending_cards(db, mentions=[number], now=now)
            elif channel:
                self._spend_or_roll_up(db, number=number, channel=channel, now=now, spent=spent)
            self.spikes.observe(
                batch,
                team=team,
                number=number,
                incident=incident,
                channel=channel,
                biggest=lambda team: self._biggest(db, team),
            )
        for incident in sorted(touched):
            drawn = store.get(db, number=incident)
            if drawn is not None:
                store.queue_card(
                    db,
                    key=store.summary_key(incident),
                    target=drawn.channel,
                    now=now,
                    every=CARD_EVERY,
                )

    def _absorbed(self, db: Conn, gone: int, keep: int, now: datetime, touched: set[int]) -> None:
        """Two clusters became one: so do their incidents."""
        lost = self.cluster_incident.pop(gone, None)
        if lost is None:
            return
        self.incident_cluster.pop(lost, None)
        kept = self.cluster_incident.get(keep)
        if kept is None:
            self._link(keep, lost)
            return
        merge_into(db, into=kept, other=lost, actor="allhands", now=now)
        self._open.discard(lost)
        touched.update({kept, lost})

    def _spend_or_roll_up(
        self, db: Conn, *, number: int, channel: str, now: datetime, spent: dict[str, int]
    ) -> None:
        """Let the mention's card through if the channel's budget allows (the cards let
        through within `per`, read from the store once a batch: its mentions share `now`;
        those an incident's card showed before they were posted do not count), else hold it
        back for the channel's roll-up."""
        budget = self.budget(channel)
        since = now - budget.per
        if channel not in spent:
            spent[channel] = attention.spent(db, channel=channel, since=since)
        if budget.allows(spent[channel]):
            attention.spend(db, channel=channel, mention=number, now=now, since=since)
            spent[channel] += 1
            return
        if store.pending_cards(db, mentions=[number], now=now, reason=ROLLED_UP):
            store.queue_card(db, key=rollup_key(channel), target=channel, now=now, every=CARD_EVERY)

    def _biggest(self, db: Conn, team: str) -> int | None:
        best, size = None, 0
        for incident in store.open_incidents(db, team=team):
            cluster = self.grouper.clusters.get(self.incident_cluster.get(incident.number, -1))
            n = len(cluster.members) if cluster else 0
            if n > size:
                best, size = incident.number, n
        return best


def merge_into(db: Conn, *, into: int, other: int, actor: str, now: datetime) -> int:
    """Move every member of `other` into `into`; `other` is closed as merged. How many moved."""
    moved = store.members(db, incident=other)
    store.add_members(db, incident=into, mentions=moved, now=now)
    store.update(db, number=other, now=now, state="merged", merged_into=into, closed_by=actor)
    return len(moved)
