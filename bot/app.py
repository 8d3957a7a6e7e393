"""The composition root: everything the bot is made of, built from settings, in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.chat import ChatAdapter
from bot.chat.slack.app import SlackBot
from bot.chat.slack.settings import check_settings
from bot.clock import Clock, SystemClock
from bot.delivery import OutboxWorker
from bot.digests import DigestSender
from bot.domain.complaint_model import ComplaintModel
from bot.domain.routes import Route, Router
from bot.domain.team_match import TeamMatcher, TeamProfile
from bot.domain.triager import Triager, TriageSettings
from bot.domain.urgency import with_overrides
from bot.drafts import ReplyDrafts
from bot.incident_commands import IncidentCommands
from bot.incident_replies import ReplyAll
from bot.incidents import IncidentDesk
from bot.ingest import AfterStore, PollResult, poll, store_batch
from bot.meaning_model import shipped_meaning
from bot.playbooks import Playbooks, SourceSpec, load_playbooks
from bot.reload import PlaybookReloader
from bot.replicas import SLACK_SOCKET, Replica
from bot.retention import RetentionKeeper
from bot.scheduler import RunningJobs, sync_poll_jobs
from bot.settings import Settings
from bot.sla import SlaSweeper
from bot.store import outbox, sql
from bot.store import webhooks as signatures
from bot.store.db import Database
from bot.store.tokens import StoredTokens
from bot.triage_learning import Learned, LearnError, learn
from bot.triage_model import InstalledModels, load_model
from bot.triage_training import ACL_DATA
from bot.workflow import Workflow
from connectors.base import Batch, Connector
from connectors.registry import connector_class

log = logging.getLogger(__name__)


def build_router(playbooks: Playbooks) -> Router:
    """Routing as the playbooks say: `routes` in order, then team keywords, then the default."""
    routes = []
    for i, spec in enumerate(playbooks.routes):
        rule = spec.rule
        name = repr(rule.name) if rule.name else f"routes[{i}]"
        routes.append(
            Route(
                team=rule.team,
                keywords=tuple(rule.keywords),
                phrases=tuple(rule.phrases),
                regex=rule.regex,
                sources=tuple(rule.sources),
                kinds=tuple(rule.kinds),
                languages=tuple(rule.languages),
                authors=tuple(rule.authors),
                label=f"route {name} ({spec.where})",
            )
        )
    routes += [Route(team=t.id, keywords=t.keywords) for t in playbooks.teams.values()]
    return Router(routes, default_team=playbooks.default_team)


def build_matcher(
    playbooks: Playbooks, learned: Mapping[str, tuple[str, ...]] | None = None
) -> TeamMatcher | None:
    """Routing by meaning, when a team describes itself or gives examples, or people moved
    posts to teams (`learned`, from `allhands triage learn`); the shipped meaning model is
    loaded then, once per process (ModelError if its files are missing or broken)."""
    teams = playbooks.teams.values()
    learned = learned or {}
    if not any(t.description or t.examples or learned.get(t.id) for t in teams):
        return None
    return TeamMatcher(
        [
            TeamProfile(
                t.id, t.name, t.description, (*t.examples, *learned.get(t.id, ())), t.keywords
            )
            for t in teams
        ],
        shipped_meaning(),
    )


def build_triager(
    playbooks: Playbooks,
    analyzer: SentimentIntensityAnalyzer,
    *,
    model: ComplaintModel | None = None,
) -> Triager:
    """The triager for these playbooks, with the shipped complaint model unless one is given
    (ModelError when the shipped file is missing or broken)."""
    section = playbooks.triage
    settings = TriageSettings(
        complaint_threshold=section.complaint_threshold,
        urgency_rules=with_overrides(section.severity, section.audience_weight),
        route_threshold=section.route_threshold,
    )
    model = model or load_model()
    return Triager(
        analyzer,
        build_router(playbooks),
        model=model,
        settings=settings,
        matcher=build_matcher(playbooks, model.team_examples),
    )


# At most this many batches of `outbox.PRUNE_BATCH` a run; what is left waits for the next.
PRUNE_BATCHES = 200


class App:
    """A running allhands: store, connectors, triage, workflow and outbox worker."""

    playbooks: Playbooks
    triager: Triager
    outbox: OutboxWorker
    workflow: Workflow
    digests: DigestSender
    sla: SlaSweeper
    retention: RetentionKeeper

    def __init__(
        self,
        *,
        settings: Settings,
        adapters: Mapping[str, ChatAdapter],
        clock: Clock | None = None,
        playbooks: Playbooks | None = None,
    ):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.adapters = dict(adapters)
        self._given_playbooks = playbooks
        self.database = Database(settings.db_path)
        self.models = InstalledModels(self.database)
        self.connectors: dict[str, Connector] = {}
        self.http: aiohttp.ClientSession | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.running_jobs = RunningJobs()
        self.reloader = PlaybookReloader(self, settings.playbooks)
        self.slack: SlackBot | None = None
        self.replica = Replica(
            database=self.database,
            clock=self.clock,
            exclusive=not sql.is_postgres(settings.db_path),
            recover=lambda live: self.outbox.recover(live=live),
            host=settings.replica_host or None,
        )

    async def start(self) -> None:
        """Load playbooks (ConfigError if bad), open the store, build connectors, recover."""
        if self.settings.slack_bot_token:
            check_settings(self.settings)  # before anything is opened
        if self._given_playbooks is not None:
            self.playbooks = self._given_playbooks
        else:
            self.playbooks = await asyncio.to_thread(load_playbooks, self.settings.playbooks)
        self.analyzer = await asyncio.to_thread(SentimentIntensityAnalyzer)
        await self.database.open()
        self.model = (await self.models.start()).model
        self.triager = await self._triager_for(self.playbooks)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self.connectors = {
            spec.id: self._connector(spec) for spec in self.playbooks.sources if spec.enabled
        }
        self.incidents = IncidentDesk(
            database=self.database, clock=self.clock, playbooks=lambda: self.playbooks
        )
        self.outbox = OutboxWorker(
            database=self.database,
            clock=self.clock,
            adapters=self.adapters,
            connectors=lambda: self.connectors,
            taker=self.replica.id,
        )
        self.workflow = Workflow(
            database=self.database,
            clock=self.clock,
            playbooks=lambda: self.playbooks,
            connectors=self.connectors,
            on_change=self.outbox.wake,
            analyzer=self.analyzer,
        )
        self.digests = DigestSender(
            database=self.database,
            clock=self.clock,
            playbooks=lambda: self.playbooks,
            on_queued=self.outbox.wake,
        )
        self.sla = SlaSweeper(
            database=self.database,
            clock=self.clock,
            playbooks=lambda: self.playbooks,
            connectors=lambda: self.connectors,
            on_change=self.outbox.wake,
        )
        self.retention = RetentionKeeper(
            database=self.database, clock=self.clock, playbooks=lambda: self.playbooks
        )
        self.drafts = ReplyDrafts(desk=self.workflow.desk, database=self.database, clock=self.clock)
        if self.settings.slack_bot_token:
            self.slack = SlackBot(
                settings=self.settings,
                clock=self.clock,
                database=self.database,
                workflow=self.workflow,
                drafts=self.drafts,
                playbooks=lambda: self.playbooks,
            )
            self.adapters["slack"] = self.slack.adapter  # the worker shares this dict
            await self.slack.start()
            if self.settings.slack_app_token:  # one replica at a time keeps the socket
                self.replica.on_lease(
                    SLACK_SOCKET, gained=self.slack.open_socket, lost=self.slack.close_socket
                )
        self.reply_all = ReplyAll(
            desk=self.workflow.desk,
            database=self.database,
            clock=self.clock,
            on_change=self.outbox.wake,
        )
        self.workflow.incidents = IncidentCommands(
            desk=self.incidents, workflow=self.workflow, reply_all=self.reply_all
        )
        # Registers this replica, takes the free leases (opening Slack's socket if it gets
        # that one), and settles what a stopped process left sending.
        await self.replica.join()
        await self.incidents.rebuild()
        self.reply_all.resume()
        await self.reloader.remember_current()

    async def apply_playbooks(self, playbooks: Playbooks) -> None:
        """Put new playbooks in force: routing, teams, and sources added, changed or gone."""
        triager = await self._triager_for(playbooks)
        old = {s.id: s for s in self.playbooks.sources if s.enabled}
        new = {s.id: s for s in playbooks.sources if s.enabled}
        for gone in old.keys() - new.keys():
            del self.connectors[gone]  # in place: the workflow and worker share this dict
        for source_id, spec in new.items():
            if old.get(source_id) != spec:
                self.connectors[source_id] = self._connector(spec)
        self.playbooks = playbooks
        self.triager = triager
        if self.scheduler is not None:
            sync_poll_jobs(self.scheduler, self)

    def _connector(self, spec: SourceSpec) -> Connector:
        assert self.http is not None
        cls = connector_class(spec.kind)
        tokens = StoredTokens(self.database, self.clock)
        return cls(
            source_id=spec.id, config=spec.config, http=self.http, clock=self.clock, tokens=tokens
        )

    async def poll_source(self, source_id: str) -> PollResult:
        """Poll one source now and wake the outbox if anything came in."""
        every = next((s.every for s in self.playbooks.sources if s.id == source_id), None)
        result = await poll(
            self.connectors[source_id],
            database=self.database,
            triager=self.triager,
            channel_of=self.playbooks.channel_of(),
            clock=self.clock,
            every=every,
            after_store=self.incidents.place,
        )
        if result.new or result.follow_ups:
            self.outbox.wake()
        return result

    async def store(
        self,
        batch: Batch,
        *,
        source: str,
        after_store: AfterStore | None = None,
        signature: signatures.Signature | None = None,
    ) -> PollResult | None:
        """Store a batch from `source` as polling does: triaged, routed and grouped into
        incidents (or passed to `after_store`); see `bot.ingest.store_batch`."""
        return await store_batch(
            batch,
            source=source,
            database=self.database,
            triager=self.triager,
            channel_of=self.playbooks.channel_of(),
            clock=self.clock,
            after_store=after_store or self.incidents.place,
            signature=signature,
        )

    async def learn_nightly(self, *, data: Path = ACL_DATA) -> Learned | None:
        """Refit the complaint model on the team's corrections where the playbook enables it,
        and triage with the refit from now on if it was installed (no worse than before)."""
        if not self.playbooks.triage.learn_nightly:
            return None
        try:
            playbooks = self.playbooks
            done = await learn(
                data=data,
                models=self.models,
                analyzer=self.analyzer,
                now=self.clock.now(),
                matcher_for=lambda examples: build_matcher(playbooks, examples),
            )
        except LearnError as exc:
            log.warning("triage learn skipped: %s", exc)
            await self.use_newest_model()  # another replica's, perhaps, found meanwhile
            return None
        log.info(
            "triage learn: %d correction(s); F1 on the labelled data %.3f -> %.3f; %s",
            done.corrections,
            done.labelled_before,
            done.labelled_after,
            f"installed as model #{done.installed}" if done.installed else "not installed (worse)",
        )
        if done.routed_before is not None and done.routed_after is not None:
            log.info(
                "triage learn: %d held-out move(s) routed to their team %.0f%% -> %.0f%%",
                done.moves_held_out,
                100 * done.routed_before,
                100 * done.routed_after,
            )
        await self._triage_with(self.models.in_use.model)
        return done

    async def use_newest_model(self) -> bool:
        """Triage with the newest complaint model installed in the store, if it is newer than
        the one in use (another replica or `allhands triage learn` installed it)."""
        await self.models.refresh()
        return await self._triage_with(self.models.in_use.model)

    async def _triage_with(self, model: ComplaintModel) -> bool:
        if model is self.model:
            return False
        self.model = model
        self.triager = await self._triager_for()
        return True

    async def _triager_for(self, playbooks: Playbooks | None = None) -> Triager:
        """The triager for `playbooks` (else those in force) and the model in use, built in a
        thread (it may read the meaning model from disk, once per process); built again if
        the model, or the playbooks in force, changed meanwhile, so that the one returned
        fits what is in force when it is put to use (with no await in between)."""
        while True:
            book, model = playbooks or self.playbooks, self.model
            triager = await asyncio.to_thread(build_triager, book, self.analyzer, model=model)
            if model is self.model and (playbooks is not None or book is self.playbooks):
                return triager

    async def poll_all(self) -> list[PollResult]:
        """Poll every source that polls (webhook sources are pushed to) once."""
        return [
            await self.poll_source(source_id)
            for source_id, connector in self.connectors.items()
            if connector.polls
        ]

    async def prune_outbox(self) -> int:
        """Delete delivered effects older than `outbox_keep`, one small batch per write so
        that people's writes go in between; how many were deleted."""
        pruned = 0
        for _ in range(PRUNE_BATCHES):
            n = await self.database.write(
                outbox.prune,
                now=self.clock.now(),
                keep=self.settings.outbox_keep,
                batch=outbox.PRUNE_BATCH,
            )
            pruned += n
            if n < outbox.PRUNE_BATCH:
                break
        if pruned:
            log.info(
                "outbox: %d delivered effects older than %s deleted",
                pruned,
                self.settings.outbox_keep,
            )
        return pruned

    async def deliver_before_stopping(self, *, grace: float) -> None:
        """For a graceful stop: no new polls or sends; jobs and sends already running finish
        (up to `grace` s, side by side); what is still queued waits for the next start."""
        jobs = None
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
            jobs = self.running_jobs.finish(grace=grace)
        await asyncio.gather(self.outbox.stop(grace=grace), *([jobs] if jobs else []))
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def stop(self) -> None:
        """Stop the worker, leave the replicas, close HTTP and the store."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.replica.leave()
        if self.slack is not None:
            await self.slack.stop()
            self.slack = None
        if hasattr(self, "reply_all"):
            await self.reply_all.stop()
        if hasattr(self, "outbox"):
            await self.outbox.stop()
        if self.http is not None:
            await self.http.close()
            self.http = None
        await self.database.close()
