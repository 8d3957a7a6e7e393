"""The HTTP side: /healthz, /webhooks/{source}, Teams' /api/messages; Slack mounts here later."""

from __future__ import annotations

from aiohttp import web

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
    return web.json_response(
        {"status": "ok", "mentions": states, "outbox": effects, "sources": health}
    )


async def webhook(request: web.Request) -> web.Response:
    """A signed mention (or several) pushed by another tool; see bot.webhooks."""
    return await webhooks.receive(request, request.app[APP_KEY])


def build_web_app(app: App) -> web.Application:
    """The aiohttp application serving the bot's endpoints."""
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app[APP_KEY] = app
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_post("/webhooks/{source}", webhook)
    from bot.chat.teams import TeamsAdapter  # here: botbuilder is slow to import

    teams = app.adapters.get("teams")
    if isinstance(teams, TeamsAdapter):
        web_app.router.add_post("/api/messages", teams.endpoint(app.workflow.handle))
    return web_app
