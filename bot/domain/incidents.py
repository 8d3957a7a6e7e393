"""Incidents: grouping mentions about the same thing as they arrive, and spikes. Pure.

A `Grouper` keeps clusters of recent posts. A post joins the cluster whose centroid (how
often each topic word, or link, occurs among its members) is nearest by cosine, if it is
near enough and the cluster was active within the window; otherwise it starts its own.
The words that make a cluster are its most frequent ones ("outage · north · signal").
Everything is deterministic: the same posts in the same order give the same clusters.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.topic_features import features, weight_of

_POSTINGS_LIMIT = 48  # a word shared by this many clusters is too common to find candidates


@dataclass(frozen=True, slots=True)
class GroupingSettings:
    """How near a post must be to join a cluster, and how long a cluster stays open."""

    window: timedelta = timedelta(hours=2)  # a cluster quiet for this long is closed
    threshold: float = 0.3  # cosine to a cluster's centroid needed to join it
    merge: float = 0.35  # cosine between two clusters a post joins both of, to merge them
    min_members: int = 8  # this many posts within `burst`, from `min_authors` people,
    min_authors: int = 5  # make a cluster an incident
    burst: timedelta = timedelta(minutes=15)
    min_shared: int = 2  # topic words shared with a cluster to join it (or one link)
    # One word is enough to join (or merge into) an established cluster when it marks that
    # cluster: in `anchor_share` of its posts, and `anchor_lift` times as often as elsewhere.
    anchor_share: float = 0.25
    anchor_lift: float = 5.0
    storm_share: float = 0.1  # a cluster this share of the window's posts is a storm
    anchor_alone: float = 0.35  # the share needed for that word alone to take a post or a
    # fragment (a small cluster marked by it) into the storm


@dataclass(frozen=True, slots=True)
class Post:
    """What grouping needs of a mention."""

    key: int  # the mention's number
    text: str
    at: datetime
    author: str = ""
    url: str = ""


@dataclass(slots=True)
class Cluster:
    """A group of posts about the same thing, with its centroid as word counts."""

    id: int
    first_at: datetime
    last_at: datetime
    members: list[int] = field(default_factory=list)
    recent: deque[datetime] = field(default_factory=deque)
    authors: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    surface: dict[str, str] = field(default_factory=dict)
    norm2: float = 0.0  # sum over tokens of (count * weight)^2

    def add(self, post: Post, tokens: dict[str, str]) -> None:
        """Count one post in."""
        self.members.append(post.key)
        self.recent.append(post.at)
        self.authors.add(post.author)
        self.last_at = max(self.last_at, post.at)
        for token, shown in tokens.items():
            c = self.counts[token]
            w = weight_of(token)
            self.norm2 += (2 * c + 1) * w * w
            self.counts[token] = c + 1
            self.surface.setdefault(token, shown)

    def why(self, n: int = 3) -> tuple[str, ...]:
        """The words that make this cluster, most frequent first (ties alphabetically)."""
        ranked = heapq.nsmallest(
            n, self.counts.items(), key=lambda kv: (-kv[1] * weight_of(kv[0]), kv[0])
        )
        shown = [self.surface[t] for t, c in ranked[:n] if c > 1 or len(self.members) == 1]
        return tuple(shown)

    def cosine(self, tokens: Iterable[str], *, min_shared: int = 1) -> float:
        """How near a post's features are to this cluster's centroid (0..1); 0 when they
        share fewer than `min_shared` features (a link counts as many)."""
        return self.near([(t, weight_of(t)) for t in tokens], min_shared=min_shared)

    def near(self, weighted: list[tuple[str, float]], *, min_shared: int = 1) -> float:
        """`cosine` for features already weighed."""
        dot = mine = shared = 0.0
        counts = self.counts
        for token, w in weighted:
            mine += w * w
            c = counts.get(token, 0)
            if c:
                dot += c * w * w
                shared += w
        if shared < min_shared or not self.norm2:
            return 0.0
        return dot / (math.sqrt(self.norm2) * math.sqrt(mine))


def _centroid_cosine(a: Cluster, b: Cluster) -> float:
    small, large = (a, b) if len(a.counts) <= len(b.counts) else (b, a)
    dot = sum(c * large.counts.get(t, 0) * weight_of(t) ** 2 for t, c in small.counts.items())
    if not dot:
        return 0.0
    return dot / math.sqrt(a.norm2 * b.norm2)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a post went: its cluster, whether that cluster is now big enough to be an
    incident, and the words that make it."""

    cluster: int
    size: int
    incident: bool
    score: float
    absorbed: tuple[int, ...] = ()  # clusters merged into this one by this post


class Grouper:
    """Online, deterministic grouping of posts into clusters."""

    def __init__(self, settings: GroupingSettings | None = None):
        self.settings = settings or GroupingSettings()
        self.clusters: dict[int, Cluster] = {}
        self._postings: dict[str, set[int]] = {}
        self._next = 1
        self._added = 0
        self._seen: Counter[str] = Counter()  # posts of the window holding each feature
        self._established: set[int] = set()  # clusters with min_members posts or more
        self._window: deque[tuple[datetime, tuple[str, ...]]] = deque()

    def add(self, post: Post, *, into: int | None = None) -> Placement:
        """Place one post (in `into` if given, e.g. when rebuilding from the store)."""
        tokens = features(post.text, post.url)
        self._added += 1
        if self._added % 512 == 0:
            self.expire(post.at)
        self._count(post.at, tokens)
        score, absorbed = 1.0, tuple[int, ...]()
        if into is not None and into in self.clusters:
            cluster = self.clusters[into]
        else:
            cluster, score, absorbed = self._nearest(post, tokens, into)
        cluster.add(post, tokens)
        for token in tokens:
            self._postings.setdefault(token, set()).add(cluster.id)
        if len(cluster.members) >= self.settings.min_members:
            self._established.add(cluster.id)
        return self.placement(cluster, score, absorbed)

    def placement(
        self, cluster: Cluster, score: float = 1.0, absorbed: tuple[int, ...] = ()
    ) -> Placement:
        """Where a cluster stands."""
        s = self.settings
        if cluster.recent:
            since = cluster.recent[-1] - s.burst
            while cluster.recent and cluster.recent[0] < since:
                cluster.recent.popleft()
        big = len(cluster.recent) >= s.min_members and len(cluster.authors) >= s.min_authors
        return Placement(cluster.id, len(cluster.members), big, score, absorbed)

    def why(self, cluster: int) -> tuple[str, ...]:
        """The words that make a cluster ("outage", "north", "signal")."""
        found = self.clusters.get(cluster)
        return found.why() if found is not None else ()

    def _nearest(
        self, post: Post, tokens: dict[str, str], into: int | None
    ) -> tuple[Cluster, float, tuple[int, ...]]:
        since = post.at - self.settings.window
        candidates: set[int] = set()
        for token in tokens:
            posting = self._postings.get(token)
            if posting and (len(posting) <= _POSTINGS_LIMIT or token.startswith("link:")):
                candidates.update(posting)
        near: list[tuple[float, int, Cluster]] = []
        weighted = [(t, weight_of(t) * self._filler(t)) for t in tokens]
        anchored: tuple[float, int, Cluster] | None = None
        anchor_word, anchor_share = "", 0.0
        for cid in sorted(candidates):
            cluster = self.clusters.get(cid)
            if cluster is None or cluster.last_at < since:
                continue
            score = cluster.near(weighted, min_shared=self.settings.min_shared)
            if score >= self.settings.threshold:
                near.append((-score, cid, cluster))
            mark, word = self._anchor(cluster, tokens)
            # The largest cluster the post's words mark: a storm takes in its fragments.
            size = -float(len(cluster.members))
            if mark and (anchored is None or (size, cid) < (anchored[0], anchored[1])):
                anchored, anchor_word, anchor_share = (size, cid, cluster), word, mark
        absorbed: list[int] = []
        if near:
            near.sort(key=lambda x: (x[0], x[1]))
            best = near[0][2]
            for _, _, other in near[1:]:
                if _centroid_cosine(best, other) >= self.settings.merge:
                    best = self._merge(best, other, absorbed)
            # A smaller cluster marked by the same word as a bursting one is part of it.
            if (
                anchored is not None
                and anchored[2] is not best
                and anchored[2].id in self.clusters
                and len(best.members) < len(anchored[2].members)
                and best.counts.get(anchor_word, 0) >= len(best.members) / 2
                and anchor_share >= self.settings.anchor_alone
            ):
                if best.counts.get(anchor_word, 0) >= 0.8 * len(best.members):
                    best = self._merge(anchored[2], best, absorbed)  # a fragment of it
                else:
                    best = anchored[2]  # this post joins it; the rest of `best` stays
            return best, -near[0][0], tuple(absorbed)
        # Alone, one word joins a post to a storm only when it marks the storm strongly.
        if anchored is not None and anchor_share >= self.settings.anchor_alone:
            return anchored[2], anchor_share, ()
        cid = into if into is not None else self._next
        self._next = max(self._next, cid + 1)
        cluster = Cluster(id=cid, first_at=post.at, last_at=post.at)
        self.clusters[cid] = cluster
        return cluster, 0.0, ()

    def _merge(self, a: Cluster, b: Cluster, absorbed: list[int]) -> Cluster:
        """Merge the smaller of two clusters into the larger; the one kept."""
        keep, gone = (a, b)
        if (len(b.members), -b.id) > (len(a.members), -a.id):
            keep, gone = b, a
        self._absorb(keep, gone)
        absorbed.append(gone.id)
        return keep

    def _filler(self, token: str) -> float:
        """A word found in most established clusters (filler: "ugh", "third time") weighs
        a quarter: it says nothing of what a post is about."""
        if len(self._established) < 4 or token.startswith("link:"):
            return 1.0
        posting = self._postings.get(token, ())
        spread = sum(1 for c in posting if c in self._established)
        return 0.25 if spread * 2 >= len(self._established) else 1.0

    def _count(self, at: datetime, tokens: dict[str, str]) -> None:
        """Count a post's features in the window (and forget those older than it)."""
        self._window.append((at, tuple(tokens)))
        self._seen.update(tokens.keys())
        since = at - self.settings.window
        while self._window and self._window[0][0] < since:
            _, old = self._window.popleft()
            self._seen.subtract(old)

    def _absorb(self, keep: Cluster, gone: Cluster) -> None:
        """Merge `gone` into `keep`."""
        self.clusters.pop(gone.id, None)
        self._established.discard(gone.id)
        keep.members.extend(gone.members)
        keep.authors |= gone.authors
        keep.recent = deque(sorted([*keep.recent, *gone.recent]))
        keep.first_at = min(keep.first_at, gone.first_at)
        keep.last_at = max(keep.last_at, gone.last_at)
        for token, count in gone.counts.items():
            keep.counts[token] += count
            keep.surface.setdefault(token, gone.surface[token])
            posting = self._postings.get(token)
            if posting is not None:
                posting.discard(gone.id)
                posting.add(keep.id)
        keep.norm2 = sum((c * weight_of(t)) ** 2 for t, c in keep.counts.items())

    def expire(self, now: datetime) -> list[int]:
        """Close the clusters quiet for longer than the window; their ids."""
        since = now - self.settings.window
        gone = sorted(c.id for c in self.clusters.values() if c.last_at < since)
        for cid in gone:
            cluster = self.clusters.pop(cid)
            self._established.discard(cid)
            for token in cluster.counts:
                posting = self._postings.get(token)
                if posting is not None:
                    posting.discard(cid)
                    if not posting:
                        del self._postings[token]
        return gone

    def remove(self, cluster: int) -> None:
        """Forget a cluster (its incident was split, merged away or resolved)."""
        found = self.clusters.pop(cluster, None)
        self._established.discard(cluster)
        if found is None:
            return
        for token in found.counts:
            posting = self._postings.get(token)
            if posting is not None:
                posting.discard(cluster)

    def _anchor(self, cluster: Cluster, tokens: dict[str, str]) -> tuple[float, str]:
        """How strongly the post's words mark a bursting cluster (the sum of the shares of
        its posts holding each marking word), and the strongest such word (0 and "":
        none). Only a burst is marked so: on a calm day nothing is."""
        n = len(cluster.members)
        if n < 2 * self.settings.min_members or len(cluster.recent) < self.settings.min_members:
            return 0.0, ""
        if n < self.settings.storm_share * len(self._window):
            return 0.0, ""  # a storm is a large part of what arrives, not one topic of many
        outside = max(1, len(self._window) - n)
        total, best, word = 0.0, 0.0, ""
        for token in tokens:
            count = cluster.counts.get(token, 0)
            share = count / n
            if share < self.settings.anchor_share:
                continue
            # Elsewhere: in posts outside every cluster this word marks (so that fragments
            # of one storm, each marked by it, do not hide how rare it is otherwise).
            marked = sum(
                other.counts[token]
                for other in (self.clusters.get(c) for c in self._postings.get(token, ()))
                if other is not None
                and other is not cluster
                and other.counts[token] * 2 >= len(other.members)
            )
            rest = max(0, self._seen[token] - count - marked)
            elsewhere = rest / outside
            if share >= self.settings.anchor_lift * max(elsewhere, 1 / outside):
                total += share
                if share > best:
                    best, word = share, token
        return total, word


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `messages` new cards per `per` in one channel; beyond, a roll-up."""

    messages: int = 30
    per: timedelta = timedelta(minutes=10)

    def allows(self, spent: int) -> bool:
        """Whether one more card may be posted, `spent` being posted within `per`."""
        return spent < self.messages


@dataclass(frozen=True, slots=True)
class OwnCard:
    """Members that still get their own card while their incident is open."""

    audience_over: int = 10_000
    urgencies: tuple[str, ...] = ()  # e.g. ("critical",): in an outage, every post is critical
