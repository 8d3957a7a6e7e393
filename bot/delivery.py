"""The outbox worker: delivers queued effects to chat and to platforms, with retries.

An effect is taken (marked `sending`), delivered, then marked done in the same
transaction as whatever its success records. Failures are retried with exponential
backoff, or at the platform's Retry-After; after `max_attempts` an effect is marked
failed and stays visible. After a restart, `recover()` puts interrupted effects back,
except public replies whose outcome is unknown: those are flagged for a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot import approval_requests
from bot.chat import ChatAdapter, MessageRef, approval
from bot.chat.cards import Card, build_card, moved_card
from bot.chat.text import shorten
from bot.clock import Clock
from bot.domain.mentions import CLOSED, SYSTEM, Action, State
from bot.errors import DeliveryError
from bot.playbooks import ChannelRef
from bot.store import digests, mentions, outbox, people, replies
from bot.store.db import Database
from connectors.base import Connector

log = logging.getLogger(__name__)


def load_card(db: sqlite_utils.Database, *, number: int, now: datetime) -> Card:
    """The card of a mention as it stands now."""
    mention = mentions.get(db, number=number)
    if mention is None:
        raise DeliveryError(f"mention #{number} does not exist", permanent=True)
    closed_by = closed_at = None
    if mention.state in CLOSED:
        last = mentions.events(db, number=number)[-1]
        closed_by, closed_at = last.actor, last.at
    answers = replies.for_mention(db, mention=number)
    return build_card(
        mention,
        now=now,
        replies=answers,
        closed_by=closed_by,
        closed_at=closed_at,
        follow_ups=len(mentions.follow_ups(db, number=number)),
        names=people.shown(db, ids=[mention.claimed_by, closed_by, *(a.actor for a in answers)]),
    )


def card_ref(db: sqlite_utils.Database, *, number: int) -> MessageRef | None:
    """Where a mention's card was posted, if it was."""
    row = db.execute(
        "SELECT platform, channel, message_id FROM cards WHERE mention = ?", [number]
    ).fetchone()
    return MessageRef(*row) if row else None


def _card_posted(
    db: sqlite_utils.Database, *, effect_id: int, number: int, ref: MessageRef, now: datetime
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO cards (mention, platform, channel, message_id, posted_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [number, ref.platform, ref.channel, ref.id, now.isoformat()],
    )
    mention = mentions.get(db, number=number)
    if mention is not None and mention.state == State.NEW:
        mentions.transition(
            db,
            mention=mention,
            action=Action.ANNOUNCE,
            actor=SYSTEM,
            now=now,
            detail={"channel": f"{ref.platform}:{ref.channel}"},
        )
    outbox.finish(db, id=effect_id, now=now, result={"message": ref.id})


def _reply_posted(
    db: sqlite_utils.Database,
    *,
    effect_id: int,
    number: int,
    reply_id: int,
    actor: str,
    external_id: str,
    url: str,
    now: datetime,
) -> None:
    replies.mark(db, id=reply_id, status="sent", external_id=external_id, url=url)
    outbox.finish(db, id=effect_id, now=now, result={"id": external_id, "url": url})
    who = people.shown(db, ids=[actor]).get(actor, actor)
    what = "The automatic holding reply" if actor == SYSTEM else f"{who}'s answer"
    text = f"{what} is posted in the customer's thread: {url or external_id}"
    outbox.enqueue(
        db, kind=outbox.Kind.THREAD_POST, mention=number, payload={"text": text}, now=now
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)


def _reply_failed(
    db: sqlite_utils.Database,
    *,
    effect_id: int,
    number: int,
    reply_id: int,
    status: str,
    error: str,
    now: datetime,
) -> None:
    replies.mark(db, id=reply_id, status=status)
    if status == "failed":
        outbox.fail(db, id=effect_id, now=now, error=error)
        text = f"The answer to #{number} could not be posted: {error}. Try `reply` again."
    else:
        text = (
            f"The answer to #{number} may or may not have been posted: the bot stopped while"
            " sending it. Check the customer's thread and `reply` again if it is missing."
        )
    outbox.enqueue(
        db, kind=outbox.Kind.THREAD_POST, mention=number, payload={"text": text}, now=now
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)


class OutboxWorker:
    """Delivers outbox effects until stopped; `drain()` delivers what is due and returns."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        adapters: Mapping[str, ChatAdapter],
        connectors: Callable[[], Mapping[str, Connector]],
        max_attempts: int = 8,
        batch: int = 50,
    ):
        self.database = database
        self.clock = clock
        self.adapters = adapters
        self.connectors = connectors
        self.max_attempts = max_attempts
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self._wake.set()

    async def recover(self) -> None:
        """After a restart: resume interrupted effects; flag public replies of unknown outcome."""
        now = self.clock.now()
        unknown = await self.database.write(outbox.recover, now=now)
        for effect in unknown:
            log.warning(
                "public reply %s for #%s was interrupted; flagged", effect.id, effect.mention
            )
            assert effect.mention is not None
            await self.database.write(
                _reply_failed,
                effect_id=effect.id,
                number=effect.mention,
                reply_id=effect.payload["reply"],
                status="unknown",
                error="",
                now=now,
            )

    def start(self) -> None:
        """Run in the background until `stop()`."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="allhands-outbox")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop the background loop once the pass in flight is done (cancelled after `grace`
        seconds): an effect cut off mid-send would wait for a restart, or need a person."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
        except TimeoutError:
            log.warning("outbox pass still running after %.0f s; cancelling it", grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.drain_once()
            except Exception:
                log.exception("outbox pass failed; trying again shortly")
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=await self._idle_time())

    async def _idle_time(self) -> float:
        due = await self.database.read(outbox.next_due)
        if due is None:
            return 5.0
        return max(0.05, min(5.0, (due - self.clock.now()).total_seconds()))

    async def drain_once(self) -> int:
        """Deliver the effects that are due now; how many were taken."""
        effects = await self.database.write(outbox.take_due, now=self.clock.now(), limit=self.batch)
        # One channel's effects go out in order; different channels in parallel.
        lanes: dict[str, list[outbox.Effect]] = {}
        for effect in effects:
            lanes.setdefault(effect.target, []).append(effect)
        await asyncio.gather(*(self._deliver_in_order(lane) for lane in lanes.values()))
        return len(effects)

    async def _deliver_in_order(self, effects: list[outbox.Effect]) -> None:
        for effect in effects:
            await self._deliver(effect)

    async def drain(self, *, rounds: int = 1000) -> None:
        """Deliver until nothing more is due (effects waiting for a later retry stay)."""
        for _ in range(rounds):
            if not await self.drain_once():
                return

    async def _deliver(self, effect: outbox.Effect) -> None:
        now = self.clock.now()
        try:
            await self._send(effect)
        except DeliveryError as exc:
            await self._failed(
                effect,
                str(exc),
                retry_after=exc.retry_after,
                permanent=exc.permanent,
                transient=exc.transient,
            )
        except (TimeoutError, OSError) as exc:  # aiohttp.ClientError is an OSError subclass
            await self._failed(effect, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            log.exception("delivering outbox effect %s (%s) failed", effect.id, effect.kind)
            await self._failed(effect, f"{type(exc).__name__}: {exc}")
        else:
            log.debug("delivered %s for #%s at %s", effect.kind, effect.mention, now)

    async def _failed(
        self,
        effect: outbox.Effect,
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        transient: bool = False,
    ) -> None:
        now = self.clock.now()
        # take_due counted this try already. A platform that is busy or down does not use
        # up attempts: what it has not taken yet is kept until it is back.
        give_up = permanent or (not transient and effect.attempts + 1 >= self.max_attempts)
        log.warning(
            "outbox %s %s for #%s failed (try %d): %s%s",
            effect.id,
            effect.kind.value,
            effect.mention,
            effect.attempts + 1,
            error,
            "; giving up" if give_up else "",
        )
        if effect.kind == outbox.Kind.PUBLIC_REPLY and give_up:
            assert effect.mention is not None
            await self.database.write(
                _reply_failed,
                effect_id=effect.id,
                number=effect.mention,
                reply_id=effect.payload["reply"],
                status="failed",
                error=error,
                now=now,
            )
        elif give_up:
            await self.database.write(outbox.fail, id=effect.id, now=now, error=error)
        else:
            wait = (
                timedelta(seconds=retry_after)
                if retry_after is not None
                else outbox.backoff(effect.attempts + 1)
            )
            await self.database.write(outbox.retry, id=effect.id, at=now + wait, error=error)

    def _adapter(self, platform: str) -> ChatAdapter:
        adapter = self.adapters.get(platform)
        if adapter is None:
            raise DeliveryError(f"no {platform} chat is configured", permanent=True)
        return adapter

    async def _send(self, effect: outbox.Effect) -> None:
        kind = effect.kind
        number = effect.mention
        now = self.clock.now()
        done: dict[str, Any] = {}
        if kind == outbox.Kind.CHANNEL_NOTE:
            channel = ChannelRef.parse(effect.target)
            await self._adapter(channel.platform).post_message(
                channel.channel, effect.payload["text"]
            )
        elif kind == outbox.Kind.PRIVATE_NOTE:
            platform = effect.target or "console"
            person = await self._person(effect.payload["person"], platform)
            await self._adapter(platform).tell(person, effect.payload["text"])
        elif kind == outbox.Kind.REPORT:
            await self._report(effect)
        elif kind == outbox.Kind.APPROVAL_REQUEST:
            await self._approval_request(effect)
            return
        elif kind == outbox.Kind.APPROVAL_UPDATE:
            done = await self._approval_update(effect)
        elif kind == outbox.Kind.PUBLIC_REPLY:
            assert number is not None
            await self._public_reply(effect, number)
            return
        else:
            assert number is not None
            if kind == outbox.Kind.CARD_POST:
                channel = ChannelRef.parse(effect.target)
                card = await self.database.read(load_card, number=number, now=now)
                ref = await self._adapter(channel.platform).post_card(channel.channel, card)
                await self.database.write(
                    _card_posted, effect_id=effect.id, number=number, ref=ref, now=self.clock.now()
                )
                return
            if kind == outbox.Kind.CARD_UPDATE and "moved_to" in effect.payload:
                await self._moved_card(effect.payload, number, now)
                await self.database.write(outbox.finish, id=effect.id, now=self.clock.now())
                return
            ref_or_none = await self.database.read(card_ref, number=number)
            if ref_or_none is None:
                done = {"skipped": "the card was never posted"}
            elif kind == outbox.Kind.CARD_UPDATE:
                card = await self.database.read(load_card, number=number, now=now)
                await self._adapter(ref_or_none.platform).update_card(ref_or_none, card)
            elif kind == outbox.Kind.THREAD_POST:
                text = await self._thread_text(effect.payload)
                adapter = self._adapter(ref_or_none.platform)
                ping = effect.payload.get("ping")
                if ping in ("here", "channel"):
                    await adapter.post_in_thread(ref_or_none, text, ping=ping)
                else:  # adapters written before `ping` existed keep working
                    await adapter.post_in_thread(ref_or_none, text)
        await self.database.write(outbox.finish, id=effect.id, now=self.clock.now(), result=done)

    async def _moved_card(self, payload: dict[str, Any], number: int, now: datetime) -> None:
        """Redraw a card left in its old channel after `move`: it says where the mention went."""
        ref = MessageRef(*(str(part) for part in payload["card"]))
        card = await self.database.read(load_card, number=number, now=now)
        by = await self.database.read(people.name_of, id=str(payload.get("by", "")))
        where = ChannelRef.parse(str(payload["channel"])).channel
        await self._adapter(ref.platform).update_card(
            ref, moved_card(card, team=str(payload["moved_to"]), channel=where, by=by)
        )

    async def _report(self, effect: outbox.Effect) -> None:
        stored = await self.database.read(digests.load, id=effect.payload["digest"])
        if stored is None:
            raise DeliveryError(f"digest {effect.payload['digest']} is not stored", permanent=True)
        platform = effect.target or "console"
        await self._adapter(platform).send_report(
            await self._person(effect.payload["person"], platform),
            stored.text,
            image=stored.chart,
            image_name=f"digest-{stored.team}-{stored.period.replace(':', '-')}.png",
            image_text=stored.chart_text,
        )

    async def _approval_request(self, effect: outbox.Effect) -> None:
        """Ask a lead; record where the request went, with its row done, to redraw it."""
        reply = int(effect.payload["reply"])
        if not await self.database.read(approval_requests.still_waiting, reply=reply):
            # A lead decided before this one was asked: they were told instead.
            skipped = {"skipped": "decided before this lead was asked"}
            await self.database.write(
                outbox.finish, id=effect.id, now=self.clock.now(), result=skipped
            )
            return
        platform = effect.target or "console"
        person = await self._person(effect.payload["person"], platform)
        payload = {**effect.payload, "person": person}
        ref = await approval.deliver(self._adapter(platform), payload)
        assert effect.mention is not None
        await self.database.write(
            approval_requests.request_posted,
            effect_id=effect.id,
            number=effect.mention,
            reply=reply,
            lead=str(effect.payload["person"]),
            ref=ref,
            now=self.clock.now(),
        )

    async def _approval_update(self, effect: outbox.Effect) -> dict[str, Any]:
        """Draw a lead's request again with the decision on the held answer."""
        payload = effect.payload
        ref = MessageRef(str(payload["platform"]), str(payload["channel"]), str(payload["message"]))
        found = await self.database.read(
            approval_requests.decided_request, reply=int(payload["reply"]), lead=payload["lead"]
        )
        if found is None:
            return {"skipped": "the answer is not decided"}
        request, decision = found
        person = await self._person(request.person, ref.platform)
        await approval.redraw(
            self._adapter(ref.platform), ref, replace(request, person=person), decision
        )
        return {}

    async def _person(self, who: str, platform: str) -> str:
        """The platform's id for a person named in a playbook (`dana@lumo.example`), where
        the people directory knows them; else as written, for the adapter to judge."""
        found = await self.database.read(people.find, who=who, platform=platform)
        return found or who

    async def _thread_text(self, payload: dict[str, Any]) -> str:
        if "follow_up" in payload:
            later = await self.database.read(mentions.get, number=payload["follow_up"])
            if later is None:
                return "(a later message that is no longer stored)"
            return f"@{later.author.handle} wrote again: {shorten(later.text, 3000)}"
        return str(payload["text"])

    async def _public_reply(self, effect: outbox.Effect, number: int) -> None:
        mention = await self.database.read(mentions.get, number=number)
        if mention is None:
            raise DeliveryError(f"mention #{number} does not exist", permanent=True)
        connector = self.connectors().get(mention.source)
        if connector is None:
            raise DeliveryError(f"source {mention.source!r} is not configured any more")
        ref = await connector.reply(mention, effect.payload["text"], key=f"allhands-{effect.id}")
        await self.database.write(
            _reply_posted,
            effect_id=effect.id,
            number=number,
            reply_id=effect.payload["reply"],
            actor=effect.payload.get("actor", "someone"),
            external_id=ref.id,
            url=ref.url,
            now=self.clock.now(),
        )
