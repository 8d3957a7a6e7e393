"""Retention: customers' text and identity older than the playbooks allow are blanked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.clock import Clock
from bot.playbooks import Playbooks
from bot.store import erasure
from bot.store.db import Database

log = logging.getLogger(__name__)


class RetentionKeeper:
    """The daily job: blank what is older than `retention.customers`, then let go of the
    old pages (secure_delete zeroes them; a checkpoint empties the write-ahead log)."""

    def __init__(self, *, database: Database, clock: Clock, playbooks: Callable[[], Playbooks]):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks

    async def expire(self) -> int:
        """Blank what is past the retention period; the number of mentions blanked."""
        keep = self.playbooks().retention
        if keep is None:
            return 0
        total = models = 0
        while True:
            now = self.clock.now()
            erased = await self.database.write(erasure.expire, before=now - keep, now=now)
            total += erased.mentions
            models += erased.models
            if erased.mentions < erasure.BATCH * 20:
                break
        if total:
            log.info(
                "retention: %d mention(s) older than %s blanked; %d kept complaint model(s)"
                " cleaned of them",
                total,
                keep,
                models,
            )
            if self.database.path != ":memory:":
                await asyncio.to_thread(erasure.checkpoint, self.database.path)
        return total
