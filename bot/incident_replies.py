"""One answer for everyone: `reply-all I7 <text>` answers each customer of an incident once.

The plan (one `reply_all` row per member, the newest mention of each customer) is stored
first, in one transaction; then each member's answer is personalised (`{author}`, `{name}`,
`{number}`), checked by the guardrails for that member and platform, and sent, held for a
lead or refused through the same `submit` as `reply`, in one transaction with its row
settled. Public replies go out through the outbox at each platform's pace. After a
restart, `resume()` carries on with what is still planned: nobody twice, nobody forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.domain.guardrails import Verdict, fill_template
from bot.errors import CommandError, TransitionError
from bot.incidents import CARD_EVERY
from bot.replying import ReplyDesk, Setting, approval_rules, lines_of
from bot.store import incidents as store
from bot.store import reply_all as reply_all_store
from bot.store.db import Database
from bot.store.sql import Conn
from bot.submitting import submit

log = logging.getLogger(__name__)


def _submit_member(
    db: Conn,
    *,
    row: dict[str, Any],
    text: str,
    verdict: Verdict,
    setting: Setting,
    now: datetime,
) -> str:
    """Send, hold or refuse one member's answer and settle its row, atomically."""
    number = row["mention"]
    if not db.execute(
        "SELECT 1 FROM reply_all WHERE mention = ? AND status = 'planned'", [number]
    ).fetchone():
        return "done before"
    db.execute("SAVEPOINT reply_all_member")
    try:
        submitted = submit(
            db,
            number=number,
            actor=row["actor"],
            text=text,
            verdict=verdict,
            rules=approval_rules(setting.guardrails),
            leads=setting.leads,
            team=setting.team_id,
            platform=row["platform"],
            lead_platform=setting.lead_platform(row["platform"]),
            can_reply=setting.can_reply,
            now=now,
        )
    except (CommandError, TransitionError) as exc:
        db.execute("ROLLBACK TO reply_all_member")
        db.execute("RELEASE reply_all_member")
        reply_all_store.settle_reply(
            db, mention=number, status="refused", reason=str(exc), reply=None
        )
        return "refused"
    db.execute("RELEASE reply_all_member")
    decision = submitted.decision
    if decision.outcome == "refuse":
        reason = "; ".join(lines_of(decision.refused)) or "the guardrails refused it"
        reply_all_store.settle_reply(
            db, mention=number, status="refused", reason=reason, reply=None
        )
        return "refused"
    status = "held" if decision.outcome == "hold" else "queued"
    reply_all_store.settle_reply(db, mention=number, status=status, reply=submitted.reply)
    return status


def _refuse(db: Conn, *, number: int, reason: str) -> None:
    reply_all_store.settle_reply(db, mention=number, status="refused", reason=reason, reply=None)


class ReplyAll:
    """Plans and sends the answers to everyone, in the background, resumable."""

    def __init__(
        self,
        *,
        desk: ReplyDesk,
        database: Database,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.desk = desk
        self.database = database
        self.clock = clock
        self.on_change = on_change
        self._task: asyncio.Task[None] | None = None

    async def start(self, incident: int, text: str, *, actor: str, platform: str) -> str:
        """Plan the answers to an incident's customers and start sending them."""
        try:
            fill_template(text, {})
        except (ValueError, IndexError, KeyError) as exc:
            raise CommandError(
                f"The text is not a template I can fill ({exc}); write placeholders like"
                " {author} or {name}, and double braces {{ }} for a brace."
            ) from None
        found = await self.database.read(store.get, number=incident)
        if found is None:
            raise CommandError(f"There is no incident I{incident}.")
        if found.state != "open":
            raise CommandError(f"I{incident} is {found.state}; nothing to answer.")
        planned, skipped = await self.database.write(
            reply_all_store.plan_reply_all,
            incident=incident,
            actor=actor,
            platform=platform,
            text=text,
            now=self.clock.now(),
        )
        if not planned:
            raise CommandError(f"Every customer of I{incident} is answered or planned already.")
        self.resume()
        repeats = f" ({skipped:,} more mentions are from the same customers)" if skipped else ""
        return (
            f"Answering {planned:,} customers of I{incident}{repeats}, each once, at each"
            f" platform's pace. The incident's card shows the progress; `show I{incident}` too."
        )

    def resume(self) -> None:
        """Carry on with planned answers (after a restart, or a new plan)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="allhands-reply-all")

    async def stop(self) -> None:
        """Stop between two members (each is atomic; the rest stays planned)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            rows = await self.database.read(reply_all_store.planned_replies, limit=50)
            if not rows:
                return
            for row in rows:
                try:
                    await self._one(row)
                except Exception:  # one member's surprise must not stop the others
                    log.exception("reply-all: answering #%s failed", row["mention"])
                    await self.database.write(
                        _refuse, number=row["mention"], reason="an unexpected error; see the log"
                    )
            for incident in sorted({r["incident"] for r in rows}):
                found = await self.database.read(store.get, number=incident)
                if found is not None:
                    await self.database.write(
                        store.queue_card,
                        key=store.summary_key(incident),
                        target=found.channel,
                        now=self.clock.now(),
                        every=CARD_EVERY,
                    )
            self.on_change()

    async def _one(self, row: dict[str, Any]) -> None:
        number = row["mention"]
        try:
            setting = await self.desk.setting(number)
        except CommandError as exc:
            await self.database.write(_refuse, number=number, reason=str(exc))
            return
        mention = setting.mention
        values = {
            "author": mention.author.handle,
            "name": mention.author.name or mention.author.handle,
            "number": number,
            "team": setting.team.name if setting.team is not None else mention.team,
            "url": mention.url,
        }
        try:
            text = " ".join(fill_template(row["text"], values).split())
        except (ValueError, IndexError, KeyError) as exc:
            await self.database.write(_refuse, number=number, reason=f"the template: {exc}")
            return
        verdict = await self.desk.check(setting, text)
        outcome = await self.database.write(
            _submit_member,
            row=row,
            text=text,
            verdict=verdict,
            setting=setting,
            now=self.clock.now(),
        )
        log.debug("reply-all: #%s %s", number, outcome)
