"""A graceful stop lets the scheduler's running jobs end instead of cancelling them."""

from __future__ import annotations

import asyncio

from bot.scheduler import build_scheduler
from tests.conftest import ConsoleHarness


async def test_a_running_job_ends_before_the_stop(harness: ConsoleHarness) -> None:
    app = harness.app
    scheduler = build_scheduler(app, poll_now=False, reload=False, digests=False, sla=False)
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow_job() -> None:
        started.set()
        await release.wait()
        finished.append("done")

    scheduler.add_job(app.running_jobs.tracked(slow_job), "date", id="slow")
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(app.deliver_before_stopping(grace=5))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the job...
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ["done"]  # ...which ran to its end instead of being cancelled
    assert not scheduler.running


async def test_a_job_that_overstays_the_grace_is_left_to_be_cancelled(
    harness: ConsoleHarness,
) -> None:
    app = harness.app
    scheduler = build_scheduler(app, poll_now=False, reload=False, digests=False, sla=False)
    started = asyncio.Event()

    async def stuck_job() -> None:
        started.set()
        await asyncio.Event().wait()

    scheduler.add_job(app.running_jobs.tracked(stuck_job), "date", id="stuck")
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(app.deliver_before_stopping(grace=0.1), 5)
    assert not scheduler.running
