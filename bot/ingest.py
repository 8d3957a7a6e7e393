"""Polling a source: fetch, normalise, triage, store with the cursor, queue the cards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.mentions import Item, Triage
from bot.domain.normalise import normalise
from bot.domain.triager import Triager
from bot.errors import SourceError
from bot.store import mentions, sources, webhooks
from bot.store.db import Database
from bot.store.sql import Conn
from connectors.base import Batch, Connector

log = logging.getLogger(__name__)

# Batches larger than this are triaged on a worker thread so the event loop stays free.
INLINE_TRIAGE = 16
# A failing source is read at most this seldom (or every interval, if that is longer).
MAX_BACKOFF = timedelta(hours=1)
DEFAULT_EVERY = timedelta(minutes=5)

AfterStore = Callable[..., Any]
"""Called in the ingest transaction with what was stored (see `IncidentDesk.place`)."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did."""

    source: str
    new: int = 0
    follow_ups: int = 0
    duplicates: int = 0
    error: str | None = None
    waiting_until: datetime | None = None  # not read: the source is backing off until then


def backoff(failures: int, every: timedelta) -> timedelta:
    """How long a source that failed `failures` times in a row rests: one interval after the
    first failure, doubling after each further one, at most an hour (or one interval)."""
    return min(max(every, MAX_BACKOFF), every * 2 ** min(max(failures - 1, 0), 20))


def prepare(
    items: list[Item], triager: Triager, *, source: str, waiting: frozenset[str] = frozenset()
) -> list[tuple[Item, Triage]]:
    """Normalise and triage a batch from `source` (CPU only); `waiting`: authors whose
    earlier mention is still unanswered (writing again raises urgency)."""
    cleaned = [normalise(item) for item in items]
    return [
        (item, triager(item, source=source, repeat=item.author.handle in waiting))
        for item in cleaned
    ]


async def store_batch(
    batch: Batch,
    *,
    source: str,
    database: Database,
    triager: Triager,
    channel_of: dict[str, str],
    clock: Clock,
    after_store: AfterStore | None = None,
    signature: webhooks.Signature | None = None,
) -> PollResult | None:
    """Normalise, triage and store one batch with its cursor, in one transaction.

    With a webhook request's `signature`, the signature is recorded in that same
    transaction, and None is answered (nothing stored) when it was recorded before.
    """
    handles = [item.author.handle for item in batch.items]
    waiting = frozenset(
        await database.read(mentions.waiting_authors, source=source, handles=handles)
    )
    if len(batch.items) > INLINE_TRIAGE:
        prepared = await asyncio.to_thread(
            prepare, batch.items, triager, source=source, waiting=waiting
        )
    else:
        prepared = prepare(batch.items, triager, source=source, waiting=waiting)
    now = clock.now()
    retry_at = now + timedelta(seconds=batch.retry_after) if batch.retry_after else None
    results = await database.write(
        _store_and_record,
        source=source,
        items=prepared,
        cursor=batch.cursor,
        now=now,
        channel_of=channel_of,
        retry_at=retry_at,
        after_store=after_store,
        signature=signature,
    )
    if results is None:
        return None
    return PollResult(
        source=source,
        new=sum(1 for r in results if r.root is None and not r.duplicate),
        follow_ups=sum(1 for r in results if r.root is not None),
        duplicates=sum(1 for r in results if r.duplicate),
    )


def _store_and_record(
    db: Conn,
    *,
    source: str,
    items: list[tuple[Item, Triage]],
    cursor: str | None,
    now: datetime,
    channel_of: dict[str, str],
    retry_at: datetime | None,
    after_store: AfterStore | None = None,
    signature: webhooks.Signature | None,
) -> list[mentions.Ingested] | None:
    if signature is not None and not webhooks.remember(db, **signature.fields(now)):
        return None
    results = mentions.ingest(
        db, source=source, items=items, cursor=cursor, now=now, channel_of=channel_of
    )
    if after_store is not None:
        after_store(db, source=source, results=results, items=items, now=now, channel_of=channel_of)
    sources.record_success(db, source=source, now=now, items=len(items), retry_at=retry_at)
    return results


def _record_failure(
    db: Conn,
    *,
    source: str,
    started: datetime,
    now: datetime,
    error: str,
    every: timedelta,
    retry_after: float | None,
) -> tuple[int, datetime]:
    failures = sources.record_failure(db, source=source, now=now, error=error)
    # Half an interval of slack, so that the tick that is due is not skipped by a hair.
    at = started + backoff(failures, every) - every / 2
    if retry_after is not None:
        at = max(at, now + timedelta(seconds=retry_after))
    sources.wait_until(db, source=source, at=at)
    return failures, at


async def poll(
    connector: Connector,
    *,
    database: Database,
    triager: Triager,
    channel_of: dict[str, str],
    clock: Clock,
    every: timedelta | None = None,
    after_store: AfterStore | None = None,
) -> PollResult:
    """Fetch what is new from one source and store it; a failing source is recorded, not raised.

    A source that failed is left alone for a while (see `backoff`), and one whose platform
    asked us to wait is not read before then.
    """
    source = connector.source_id
    every = every or DEFAULT_EVERY
    started = clock.now()
    resting = await database.read(sources.retry_at, source=source)
    if resting is not None and started < resting:
        log.debug("source %s is resting until %s", source, resting.isoformat())
        return PollResult(source=source, waiting_until=resting)
    cursor = await database.read(mentions.load_cursor, source=source)
    retry_after = None
    try:
        batch = await connector.fetch(cursor)
    except SourceError as exc:
        error = str(exc)
        retry_after = exc.retry_after
    except Exception as exc:  # a connector's bug must not stop the other sources
        log.exception("source %s failed unexpectedly", source)
        error = f"{source}: unexpected {type(exc).__name__}: {exc}"
    else:
        result = await store_batch(
            batch,
            source=source,
            database=database,
            triager=triager,
            channel_of=channel_of,
            clock=clock,
            after_store=after_store,
        )
        assert result is not None  # no signature given: always stored
        if result.new or result.follow_ups:
            log.info(
                "source %s: %d new, %d follow-ups, %d repeats",
                source,
                result.new,
                result.follow_ups,
                result.duplicates,
                extra={"source": source},
            )
        return result
    failures, until = await database.write(
        _record_failure,
        source=source,
        started=started,
        now=clock.now(),
        error=error,
        every=every,
        retry_after=retry_after,
    )
    log.warning(
        "source %s failed (%d in a row); next try after %s: %s",
        source,
        failures,
        until.isoformat(timespec="seconds"),
        error,
        extra={"source": source},
    )
    return PollResult(source=source, error=error, waiting_until=until)
