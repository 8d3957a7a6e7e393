"""The web side over real HTTP on 127.0.0.1: /healthz."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.web import build_web_app
from tests.conftest import ConsoleHarness


async def test_healthz_reports_store_outbox_and_sources(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    runner = web.AppRunner(build_web_app(harness.app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
            body = await response.json()
    finally:
        await runner.cleanup()
    assert body["status"] == "ok"
    assert body["mentions"] == {"new": 3}
    assert body["outbox"] == {"pending": 3}
    assert body["sources"]["social"]["items_seen"] == 3
    assert body["sources"]["blog"]["last_error"].startswith("blog: ")


async def test_metrics_speak_prometheus(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    runner = web.AppRunner(build_web_app(harness.app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
    finally:
        await runner.cleanup()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {(s.labels["state"], s.value) for s in families["allhands_mentions"].samples} == {
        ("open", 3.0)
    }
    assert {(s.labels["state"], s.value) for s in families["allhands_outbox_effects"].samples} == {
        ("done", 3.0)
    }
    seen = {s.labels["source"]: s.value for s in families["allhands_source_items_seen"].samples}
    failures = {s.labels["source"]: s.value for s in families["allhands_source_failures"].samples}
    assert seen == {"blog": 0.0, "social": 3.0} and failures == {"blog": 1.0, "social": 0.0}
