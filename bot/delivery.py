"""The outbox worker: delivers queued effects to chat and to platforms, with retries.

Effects go out lane by lane (`bot.delivery_lanes`): each destination at its own pace, the
most urgent first. An effect is taken (marked `sending`), delivered, then marked done in
the same transaction as whatever its success records. Failures are retried with
exponential backoff, or at the platform's Retry-After (pausing that lane only); after
`max_attempts` an effect is marked failed and stays visible. A public reply that fails for
good puts its mention back in front of people (`bot.reply_outcomes`). After a restart,
`recover()` settles interrupted effects one by one (`OutboxWorker.settle_interrupted`).
Cards and replies tried again are first looked for on the platform (`bot.sent_once`), so
they are not posted twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot import approval_requests, incident_cards, sent_once
from bot.card_links import CardLinks
from bot.chat import ChatAdapter, MessageRef
from bot.chat.cards import Card, moved_card
from bot.chat.text import shorten
from bot.clock import Clock
from bot.delivery_lanes import Lanes
from bot.errors import DeliveryError
from bot.logs import about_effect
from bot.mention_cards import card_posted, card_ref, load_card
from bot.playbooks import ChannelRef
from bot.reply_outcomes import reply_failed, reply_posted
from bot.store import digests, mentions, outbox, people
from bot.store.db import Database
from bot.store.lanes import pause_lane
from connectors.base import Connector

log = logging.getLogger(__name__)


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
        taker: str | None = None,
    ):
        self.database = database
        self.clock = clock
        self.adapters = adapters
        self.connectors = connectors
        self.max_attempts = max_attempts
        self.lanes = Lanes(database=database, clock=clock, deliver=self._deliver, taker=taker)
        self.card_links = CardLinks(
            ref_of=lambda number: database.read(card_ref, number=number),
            adapter_of=self._adapter,
        )

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self.lanes.wake()

    async def recover(self, *, live: Collection[str] = ()) -> None:
        """After a restart, or when a replica died: settle each effect a stopped process
        left mid-send (those taken by the `live` replicas are theirs to finish)."""
        for effect in await self.database.read(outbox.interrupted, live=live):
            await self.settle_interrupted(effect)

    async def settle_interrupted(self, effect: outbox.Effect) -> None:
        """What becomes of an effect found `sending` at start-up (its send was cut off).

        Anything but a public reply is queued again, due now (a card tried again is first
        looked for in its channel). A public reply may or may not have reached the customer:
        where its platform can find what an earlier try posted, it is tried again that way;
        elsewhere it is not sent again, and its mention goes back in front of people, its
        writer told to check (`bot.reply_outcomes`).
        """
        now = self.clock.now()
        if effect.kind != outbox.Kind.PUBLIC_REPLY:
            await self.database.write(outbox.requeue, id=effect.id, now=now)
            return
        if await self._can_look_for(effect):
            # Its platform can tell whether the first try posted it: try again, and the try
            # looks for the first post before making one (bot.sent_once).
            log.info("public reply %s for #%s was interrupted; checking", effect.id, effect.mention)
            await self.database.write(outbox.requeue, id=effect.id, now=now)
            return
        log.warning("public reply %s for #%s was interrupted; flagged", effect.id, effect.mention)
        await self._reply_failed(effect, status="unknown", error="", now=now)

    async def _reply_failed(
        self, effect: outbox.Effect, *, status: str, error: str, now: datetime
    ) -> None:
        """A public reply failed for good or ended unknown: its mention goes back to people."""
        assert effect.mention is not None
        await self.database.write(
            reply_failed,
            effect_id=effect.id,
            number=effect.mention,
            reply_id=effect.payload["reply"],
            status=status,
            error=error,
            now=now,
        )

    async def _can_look_for(self, effect: outbox.Effect) -> bool:
        """Whether the platform of a public reply can find what an earlier try posted."""
        assert effect.mention is not None
        mention = await self.database.read(mentions.get, number=effect.mention)
        connector = self.connectors().get(mention.source) if mention is not None else None
        return connector is not None and connector.finds_replies

    def start(self) -> None:
        """Deliver in the background, every lane side by side, until `stop()`."""
        self.lanes.start()

    async def stop(self, *, grace: float = 3.0) -> None:
        """Take nothing more; sends in flight finish (each within its own timeout, the
        whole within `grace` s); what is left stays queued, and is logged per lane."""
        if not self.lanes.running:
            return
        await self.lanes.stop(grace=grace)
        with contextlib.suppress(Exception):
            left = await self.database.read(outbox.queued)
            if left:
                log.info(
                    "stopped with %d effect(s) queued for the next start: %s",
                    sum(left.values()),
                    ", ".join(f"{lane or '-'} {n}" for lane, n in left.items()),
                )

    async def drain(self, *, rounds: int = 1000) -> None:
        """Deliver until nothing more is due (effects waiting for a later retry stay)."""
        await self.lanes.drain(rounds=rounds)

    @about_effect
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
            await self._reply_failed(effect, status="failed", error=error, now=now)
        elif give_up:
            await self.database.write(outbox.fail, id=effect.id, now=now, error=error)
        else:
            wait = (
                timedelta(seconds=retry_after)
                if retry_after is not None
                else outbox.backoff(effect.attempts + 1)
            )
            if retry_after is not None or transient:
                # The destination asked for a rest or is down: its whole lane waits.
                self.lanes.pause(effect.lane, wait.total_seconds())
                await self.database.write(pause_lane, lane=effect.lane, until=now + wait)
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
            if not effect.payload.get("digest") or await self._channel_report(effect, channel):
                await self._adapter(channel.platform).post_message(
                    channel.channel, effect.payload["text"]
                )
        elif kind == outbox.Kind.PRIVATE_NOTE:
            platform = effect.target or "console"
            person = await self._person(effect.payload["person"], platform)
            text = await self.card_links.text(effect.payload, number)
            await self._adapter(platform).tell(person, text)
        elif kind == outbox.Kind.REPORT:
            await self._report(effect)
        elif kind == outbox.Kind.APPROVAL_REQUEST:
            await approval_requests.post_request(
                effect,
                database=self.database,
                clock=self.clock,
                adapter_of=self._adapter,
                person_of=self._person,
                source_name=self._platform_of,
            )
            return
        elif kind == outbox.Kind.APPROVAL_UPDATE:
            done = await approval_requests.redraw_request(
                effect,
                database=self.database,
                adapter_of=self._adapter,
                person_of=self._person,
                source_name=self._platform_of,
            )
        elif kind == outbox.Kind.SUMMARY_CARD:
            await incident_cards.deliver_summary(
                effect, database=self.database, adapter_of=self._adapter, clock=self.clock
            )
            return
        elif kind == outbox.Kind.PUBLIC_REPLY:
            assert number is not None
            await self._public_reply(effect, number)
            return
        else:
            assert number is not None
            if kind == outbox.Kind.CARD_POST:
                channel = ChannelRef.parse(effect.target)
                card = self._named(await self.database.read(load_card, number=number, now=now))
                ref = await sent_once.post_card(
                    self._adapter(channel.platform),
                    channel.channel,
                    card,
                    effect=effect,
                    database=self.database,
                )
                await self.database.write(
                    card_posted, effect_id=effect.id, number=number, ref=ref, now=self.clock.now()
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
                card = self._named(await self.database.read(load_card, number=number, now=now))
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

    def _named(self, card: Card) -> Card:
        """The card saying where the customer wrote as people name it (Mastodon, not masto)."""
        source, _, rest = card.where.partition(" · ")  # the source, then language and notes
        return replace(card, where=" · ".join(filter(None, [self._platform_of(source), rest])))

    def _platform_of(self, source: str) -> str:
        """A source's platform as people name it ("Mastodon"); the source id if unknown."""
        connector = self.connectors().get(source)
        return connector.platform_name() if connector is not None else source

    async def _channel_report(self, effect: outbox.Effect, channel: ChannelRef) -> bool:
        """Post a digest in a channel with its chart, as a lead gets it; True when it must go
        as plain text instead (the adapter cannot post reports, or the digest is gone)."""
        adapter = self._adapter(channel.platform)
        post_report = getattr(adapter, "post_report", None)
        stored = await self.database.read(digests.load, id=effect.payload["digest"])
        if post_report is None or stored is None:
            return True
        await post_report(
            channel.channel,
            stored.text,
            image=stored.chart,
            image_name=f"digest-{stored.team}-{stored.period.replace(':', '-')}.png",
            image_text=stored.chart_text,
        )
        return False

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
        ref = await sent_once.public_reply(
            connector, mention, effect.payload["text"], effect=effect
        )
        await self.database.write(
            reply_posted,
            effect_id=effect.id,
            number=number,
            reply_id=effect.payload["reply"],
            actor=effect.payload.get("actor", "someone"),
            external_id=ref.id,
            url=ref.url,
            now=self.clock.now(),
        )
