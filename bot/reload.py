"""Live reload: notice edited playbooks, apply good ones, keep the last good ones otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.playbooks import load_playbooks, playbook_files
from bot.store import outbox

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


def fingerprint(path: Path) -> str:
    """A hash of the playbook files' names and contents; changes when any of them does."""
    digest = hashlib.sha256()
    if not path.exists():
        return "missing"
    for file in playbook_files(path):
        digest.update(str(file).encode())
        try:
            digest.update(file.read_bytes())
        except OSError as exc:
            digest.update(f"unreadable: {exc}".encode())
    return digest.hexdigest()


class PlaybookReloader:
    """Checks the playbook files on each call and applies them when they changed."""

    def __init__(self, app: App, path: str | Path):
        self.app = app
        self.path = Path(path)
        self._seen: str | None = None

    async def remember_current(self) -> None:
        """Take the files as they are now as the ones in force."""
        self._seen = await asyncio.to_thread(fingerprint, self.path)

    async def check(self) -> bool | None:
        """Reload if the files changed: True when applied, False when refused, None if unchanged."""
        seen = await asyncio.to_thread(fingerprint, self.path)
        if seen == self._seen:
            return None
        self._seen = seen
        try:
            playbooks = await asyncio.to_thread(load_playbooks, self.path)
        except ConfigError as exc:
            listing = "\n".join(f"  {p}" for p in exc.problems)
            log.error(
                "playbooks in %s were edited but are not valid; the last good ones stay in"
                " force:\n%s",
                self.path,
                listing,
            )
            await self._tell_admins(
                f"The playbook edit was refused; the last good playbooks stay in force."
                f" {len(exc.problems)} problem(s):\n{listing}"
            )
            return False
        await self.app.apply_playbooks(playbooks)
        log.info("playbooks in %s reloaded", self.path)
        await self._tell_admins(
            f"Playbooks reloaded: {len(playbooks.sources)} source(s), {len(playbooks.teams)}"
            f" team(s), {len(playbooks.routes)} route(s)."
        )
        return True

    async def _tell_admins(self, text: str) -> None:
        channel = self.app.playbooks.admin_channel
        if channel is None:
            return
        await self.app.database.write(
            outbox.enqueue,
            kind=outbox.Kind.CHANNEL_NOTE,
            target=str(channel),
            payload={"text": text},
            now=self.app.clock.now(),
        )
        self.app.outbox.wake()
