"""The web side over real HTTP on 127.0.0.1: /healthz."""

from __future__ import annotations

import aiohttp
from aiohttp import web

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
