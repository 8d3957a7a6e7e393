"""The scheduler: polling per source, the playbook reload check, digests and the SLA sweep.

Jobs are short calls into the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import replicas

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

RELOAD_EVERY = timedelta(seconds=5)
# One job looks each minute for digests that are due; it reads the playbooks in force at
# each run, so a reload needs no re-sync, and the store's record sends each one once.
DIGESTS_EVERY = timedelta(minutes=1)
# One sweep for every mention, not one job per mention; SLA steps are minutes apart.
SLA_SWEEP_EVERY = timedelta(minutes=1)
# Retention runs daily, first a minute after start so that a daily restart cannot skip it.
RETENTION_EVERY = timedelta(days=1)
RETENTION_FIRST = timedelta(minutes=1)
# Delivered effects older than the setting are deleted in small batches, off the hot path.
OUTBOX_PRUNE_EVERY = timedelta(minutes=10)
# The complaint model is refitted on the team's corrections once a day, where the
# playbook enables it (`triage.learn_nightly`).
LEARN_EVERY = timedelta(days=1)
# Every replica looks this often for a newer complaint model installed in the store (by
# another replica's nightly job or `allhands triage learn`): one query for the newest id.
MODEL_CHECK_EVERY = timedelta(minutes=1)


class RunningJobs:
    """The scheduler's jobs that are running now, so that a graceful stop can let them end:
    APScheduler's own shutdown cancels them mid-way."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def tracked(
        self,
        job: Callable[P, Awaitable[T]],
        *,
        only_if: Callable[[], Awaitable[bool]] | None = None,
    ) -> Callable[P, Awaitable[T | None]]:
        """`job`, recorded as running while it runs; skipped (None) when `only_if` says no
        (this replica does not hold the job's lease)."""

        @wraps(job)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T | None:
            if only_if is not None and not await only_if():
                log.debug("%s runs on another replica; skipped here", job.__name__)
                return None
            task = asyncio.current_task()
            if task is not None:
                self.tasks.add(task)
            try:
                return await job(*args, **kwargs)
            finally:
                if task is not None:
                    self.tasks.discard(task)

        return run

    async def finish(self, *, grace: float) -> None:
        """Wait up to `grace` seconds for the running jobs to end."""
        if not self.tasks:
            return
        _, late = await asyncio.wait(set(self.tasks), timeout=grace)
        if late:
            log.warning("stopping with %d job(s) still running; they are cancelled", len(late))


def build_scheduler(
    app: App,
    *,
    poll_now: bool = True,
    reload: bool = True,
    digests: bool = True,
    sla: bool = True,
    retention: bool = True,
    prune: bool = True,
    learn: bool = True,
    models: bool = True,
) -> AsyncIOScheduler:
    """A scheduler with the app's jobs, kept on `app.scheduler`; start it inside the loop.

    Each source is first polled at once, or after one interval when `poll_now` is false.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    app.scheduler = scheduler
    sync_poll_jobs(scheduler, app, poll_now=poll_now)
    # Each job but the reload and the model check (every replica keeps its playbooks and
    # model current) runs on the one replica holding its lease (bot.replicas), its job id.
    repeating: list[tuple[bool, Callable[[], Awaitable[Any]], timedelta, str, str]] = [
        (reload, app.reloader.check, RELOAD_EVERY, "reload-playbooks", "reload playbooks"),
        (digests, app.digests.send_due, DIGESTS_EVERY, replicas.DIGESTS, "send due digests"),
        (sla, app.sla.sweep, SLA_SWEEP_EVERY, replicas.SLA_SWEEP, "SLA sweep"),
        (prune, app.prune_outbox, OUTBOX_PRUNE_EVERY, replicas.OUTBOX_PRUNE, "prune the outbox"),
        (learn, app.learn_nightly, LEARN_EVERY, replicas.TRIAGE_LEARN, "refit triage"),
        (models, app.use_newest_model, MODEL_CHECK_EVERY, "newest-model", "use the newest model"),
    ]
    for wanted, job, every, job_id, name in repeating:
        if wanted:
            scheduler.add_job(
                app.running_jobs.tracked(job, only_if=_lease(app, job_id)),
                "interval",
                seconds=every.total_seconds(),
                id=job_id,
                name=name,
                max_instances=1,
                coalesce=True,
            )
    if retention:
        scheduler.add_job(
            app.running_jobs.tracked(app.retention.expire, only_if=_lease(app, replicas.RETENTION)),
            "interval",
            seconds=RETENTION_EVERY.total_seconds(),
            id=replicas.RETENTION,
            name="retention",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC) + RETENTION_FIRST,
        )
    return scheduler


def _lease(app: App, name: str) -> Callable[[], Awaitable[bool]] | None:
    """Whether this replica holds lease `name` (taken now if free); none for a reload."""
    if name not in replicas.JOB_LEASES:
        return None
    return lambda: app.replica.hold(name)


def sync_poll_jobs(scheduler: AsyncIOScheduler, app: App, *, poll_now: bool = True) -> None:
    """Make the polling jobs match the app's sources: add new, reschedule changed, drop gone."""
    wanted = {
        spec.id: spec
        for spec in app.playbooks.sources
        if spec.id in app.connectors and app.connectors[spec.id].polls
    }
    for job in scheduler.get_jobs():
        if job.id.startswith("poll:") and job.id.removeprefix("poll:") not in wanted:
            job.remove()
    now = datetime.now(UTC)
    for spec in wanted.values():
        job_id = f"poll:{spec.id}"
        existing = scheduler.get_job(job_id)
        seconds = spec.every.total_seconds()
        if existing is not None:
            if existing.trigger.interval.total_seconds() != seconds:
                existing.reschedule("interval", seconds=seconds)
            continue
        scheduler.add_job(
            app.running_jobs.tracked(app.poll_source, only_if=_lease(app, replicas.POLL)),
            "interval",
            seconds=seconds,
            args=[spec.id],
            id=job_id,
            name=f"poll {spec.id}",
            max_instances=1,
            coalesce=True,
            next_run_time=now if poll_now else now + spec.every,
        )
