"""The HTTP side: /healthz, /metrics, /webhooks/{source}, Teams' /api/messages, Slack's
/slack/events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bot import webhooks
from bot.app import App
from bot.store import mentions, outbox, sources

APP_KEY = web.AppKey("allhands", App)


async def healthz(request: web.Request) -> web.Response:
    """200 with the store's and sources' state when the store answers; 503 when it does not."""
    app = request.app[APP_KEY]
    try:
        states = await app.database.read(mentions.count_by_state)
        effects = await app.database.read(outbox.counts)
        health = await app.database.read(sources.health)
    except Exception as exc:
        return web.json_response({"status": "error", "error": str(exc)}, status=503)
    answer = {"status": "ok", "mentions": states, "outbox": effects, "sources": health}
    keys = _teams_keys(app)
    if keys is not None:
        answer["teams_keys"] = keys
        if not keys["ok"]:
            # Still 200: the process serves everything else; Teams requests get 503 now.
            answer["status"] = "degraded"
    return web.json_response(answer)


def _teams_keys(app: App) -> dict[str, Any] | None:
    from bot.chat.teams.adapter import TeamsAdapter

    teams = app.adapters.get("teams")
    if not isinstance(teams, TeamsAdapter) or teams.authenticator.disabled:
        return None
    return teams.authenticator.keys.health()


class _Snapshot:
    """A Prometheus collector over figures already read from the store (collecting must not
    touch SQLite: it runs on the event loop)."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        """The figures, as read."""
        return self.families


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: mentions by state, outbox effects by state, each source's health."""
    app = request.app[APP_KEY]
    states = await app.database.read(mentions.count_by_state)
    effects = await app.database.read(outbox.counts)
    health = await app.database.read(sources.health)
    by_state = GaugeMetricFamily(
        "allhands_mentions", "Top-level mentions by state.", labels=["state"]
    )
    for state, count in sorted(states.items()):
        by_state.add_metric([state], count)
    outbox_state = GaugeMetricFamily(
        "allhands_outbox_effects", "Effects on the outside world by state.", labels=["state"]
    )
    for state, count in sorted(effects.items()):
        outbox_state.add_metric([state], count)
    seen = GaugeMetricFamily(
        "allhands_source_items_seen", "Items a source has handed over.", labels=["source"]
    )
    failing = GaugeMetricFamily(
        "allhands_source_failures", "Failed reads of a source in a row.", labels=["source"]
    )
    for source, row in health.items():
        seen.add_metric([source], row.get("items_seen") or 0)
        failing.add_metric([source], row.get("failures") or 0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([by_state, outbox_state, seen, failing]))
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def webhook(request: web.Request) -> web.Response:
    """A signed mention (or several) pushed by another tool; see bot.webhooks."""
    return await webhooks.receive(request, request.app[APP_KEY])


def build_web_app(app: App) -> web.Application:
    """The aiohttp application serving the bot's endpoints."""
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app[APP_KEY] = app
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_post("/webhooks/{source}", webhook)
    from bot.chat.teams.adapter import TeamsAdapter  # here: botbuilder is slow to import

    teams = app.adapters.get("teams")
    if isinstance(teams, TeamsAdapter):
        web_app.router.add_post("/api/messages", teams.endpoint(app.workflow.handle))
    if app.slack is not None:
        app.slack.mount(web_app)  # /slack/events
    return web_app
