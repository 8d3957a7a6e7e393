"""Microsoft Graph's channel messages, as a Teams app with resource-specific consent reads
them, served by the BotFrameworkFake (under /graph/v1.0).

GET /teams/{team-id}/channels/{channel-id}/messages lists a channel's root posts, newest
first, `$top` a page (default 20, at most 50; this fake's pages hold `page_size` at most,
so that paging is exercised) with `@odata.nextLink` to the next page. Each post is a
chatMessage as Graph shapes it: a bot's post is `from.application`, its Adaptive Card an
attachment whose `content` is the card's JSON as a string. The token must be an app-only
Graph token this fake issued; without the ChannelMessage.Read.Group consent (`refuse`)
Graph answers 403 Forbidden, as it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.teams_connector import BotFrameworkFake, Post

BASE = "/graph/v1.0"
SCOPE = "https://graph.microsoft.com/.default"


@dataclass
class GraphFake:
    """What tests set and read of the Graph side: consent, page size, requests."""

    groups: dict[str, str] = field(default_factory=dict)  # Bot Framework team id -> group id
    refuse: bool = False  # the app has no ChannelMessage.Read.Group consent in the team
    page_size: int = 2
    no_token: bool = False  # the login refuses Graph tokens (no consent in the tenant)
    failures: list[tuple[int, str | None]] = field(default_factory=list)  # (status, Retry-After)
    next_link: str | None = None  # instead of the real @odata.nextLink (a hostile one)
    tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


def routes(app: web.Application, fake: BotFrameworkFake) -> None:
    """Add Graph's list-channel-messages endpoint to the fake's web app."""

    async def messages(request: web.Request) -> web.Response:
        graph = fake.graph
        graph.requests.append(request.path_qs)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in graph.tokens:
            return _error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if graph.failures:
            status, wait = graph.failures.pop(0)
            headers = {"Retry-After": wait} if wait else {}
            code = "TooManyRequests" if status == 429 else "ServiceNotAvailable"
            response = _error(status, code, "Injected.")
            response.headers.update(headers)
            return response
        if graph.refuse:
            return _error(403, "Forbidden", "Missing role permissions on the request.")
        group, channel = request.match_info["team"], request.match_info["channel"]
        if group not in graph.groups.values() or channel not in fake.channels:
            return _error(404, "NotFound", "Resource not found for the segment 'channels'.")
        top = request.query.get("$top", "20")
        if not top.isdigit() or not 0 < int(top) <= 50:
            return _error(400, "BadRequest", f"Invalid page size specified: '{top}'.")
        size = min(int(top), graph.page_size)
        skip_text = request.query.get("$skiptoken", "0")
        skip = int(skip_text) if skip_text.isdigit() else 0
        posts = sorted(fake.channel_posts(channel), key=lambda p: p.created, reverse=True)
        page: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{group}')"
            f"/channels('{channel}')/messages",
            "@odata.count": len(posts[skip : skip + size]),
            "value": [_message(fake, p, group) for p in posts[skip : skip + size]],
        }
        if skip + size < len(posts) and graph.next_link:
            page["@odata.nextLink"] = graph.next_link
        elif skip + size < len(posts):
            page["@odata.nextLink"] = fake.url(
                f"{BASE}/teams/{group}/channels/{quote(channel, safe='')}/messages?$top={top}"
                f"&$skiptoken={skip + size}"
            )
        return web.json_response(page)

    app.router.add_get(BASE + "/teams/{team}/channels/{channel}/messages", messages)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": "2026-01-05T09:00:00", "request-id": "fake"},
            }
        },
        status=status,
    )


def _message(fake: BotFrameworkFake, post: Post, group: str) -> dict[str, Any]:
    """A channel post as Graph's chatMessage."""
    when = post.created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    attachments = [
        {
            "id": f"{post.id}-{i}",
            "contentType": a.get("contentType"),
            "contentUrl": a.get("contentUrl"),
            "content": json.dumps(a["content"]) if "content" in a else None,
            "name": a.get("name"),
            "thumbnailUrl": None,
            "teamsAppId": None,
        }
        for i, a in enumerate(post.activity.get("attachments") or [])
    ]
    body = "".join(f'<attachment id="{a["id"]}"></attachment>' for a in attachments)
    return {
        "id": post.id,
        "replyToId": None,
        "etag": str(post.versions),
        "messageType": "message",
        "createdDateTime": when,
        "lastModifiedDateTime": when,
        "lastEditedDateTime": None,
        "deletedDateTime": None,
        "subject": None,
        "summary": post.activity.get("summary"),
        "chatId": None,
        "importance": "normal",
        "locale": "en-us",
        "webUrl": f"https://teams.microsoft.com/l/message/{post.conversation}/{post.id}",
        "policyViolation": None,
        "eventDetail": None,
        "from": {
            "application": {
                "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                "id": fake.app_id,
                "displayName": "allhands",
                "applicationIdentityType": "bot",
            },
            "device": None,
            "user": None,
        },
        "body": {"contentType": "html", "content": body or post.activity.get("text", "")},
        "channelIdentity": {"teamId": group, "channelId": post.conversation},
        "attachments": attachments,
        "mentions": [],
        "reactions": [],
    }
