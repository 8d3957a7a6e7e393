"""Polling a source: fetch, normalise, triage, store with the cursor, queue the cards."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from bot.clock import Clock
from bot.domain.mentions import Item, Triage
from bot.domain.normalise import normalise
from bot.domain.triage import Triager
from bot.errors import SourceError
from bot.store import mentions, sources
from bot.store.db import Database
from connectors.base import Batch, Connector

log = logging.getLogger(__name__)

# Batches larger than this are triaged on a worker thread so the event loop stays free.
INLINE_TRIAGE = 16


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did."""

    source: str
    new: int = 0
    follow_ups: int = 0
    duplicates: int = 0
    error: str | None = None


def prepare(items: list[Item], triager: Triager, *, source: str) -> list[tuple[Item, Triage]]:
    """Normalise and triage a batch from `source` (CPU only)."""
    cleaned = [normalise(item) for item in items]
    return [(item, triager(item, source=source)) for item in cleaned]


async def store_batch(
    batch: Batch,
    *,
    source: str,
    database: Database,
    triager: Triager,
    channel_of: dict[str, str],
    clock: Clock,
) -> PollResult:
    """Normalise, triage and store one batch with its cursor, in one transaction."""
    if len(batch.items) > INLINE_TRIAGE:
        prepared = await asyncio.to_thread(prepare, batch.items, triager, source=source)
    else:
        prepared = prepare(batch.items, triager, source=source)
    now = clock.now()
    results = await database.write(
        _store_and_record,
        source=source,
        items=prepared,
        cursor=batch.cursor,
        now=now,
        channel_of=channel_of,
    )
    return PollResult(
        source=source,
        new=sum(1 for r in results if r.root is None and not r.duplicate),
        follow_ups=sum(1 for r in results if r.root is not None),
        duplicates=sum(1 for r in results if r.duplicate),
    )


def _store_and_record(
    db: sqlite_utils.Database,
    *,
    source: str,
    items: list[tuple[Item, Triage]],
    cursor: str | None,
    now: datetime,
    channel_of: dict[str, str],
) -> list[mentions.Ingested]:
    results = mentions.ingest(
        db, source=source, items=items, cursor=cursor, now=now, channel_of=channel_of
    )
    sources.record_success(db, source=source, now=now, items=len(items))
    return results


async def poll(
    connector: Connector,
    *,
    database: Database,
    triager: Triager,
    channel_of: dict[str, str],
    clock: Clock,
) -> PollResult:
    """Fetch what is new from one source and store it; a failing source is recorded, not raised."""
    source = connector.source_id
    cursor = await database.read(mentions.load_cursor, source=source)
    try:
        batch = await connector.fetch(cursor)
    except SourceError as exc:
        log.warning("source %s failed: %s", source, exc)
        error = str(exc)
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
        )
        if result.new or result.follow_ups:
            log.info(
                "source %s: %d new, %d follow-ups, %d repeats",
                source,
                result.new,
                result.follow_ups,
                result.duplicates,
            )
        return result
    await database.write(sources.record_failure, source=source, now=clock.now(), error=error)
    return PollResult(source=source, error=error)
