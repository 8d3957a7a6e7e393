"""The connectors allhands knows, listed explicitly: kind -> class."""

from __future__ import annotations

from connectors.appstore import AppStoreConnector
from connectors.base import Connector
from connectors.bluesky import BlueskyConnector
from connectors.googleplay import GooglePlayConnector
from connectors.hackernews import HackerNewsConnector
from connectors.mastodon import MastodonConnector
from connectors.reddit import RedditConnector
from connectors.replay import ReplayConnector
from connectors.rss import RssConnector
from connectors.webhook import WebhookConnector
from connectors.x import XConnector

BUILT_IN: dict[str, type[Connector]] = {
    RssConnector.kind: RssConnector,
    ReplayConnector.kind: ReplayConnector,
    MastodonConnector.kind: MastodonConnector,
    BlueskyConnector.kind: BlueskyConnector,
    WebhookConnector.kind: WebhookConnector,
    HackerNewsConnector.kind: HackerNewsConnector,
    XConnector.kind: XConnector,
    RedditConnector.kind: RedditConnector,
    AppStoreConnector.kind: AppStoreConnector,
    GooglePlayConnector.kind: GooglePlayConnector,
}


def connector_class(kind: str) -> type[Connector]:
    """The connector class for a source kind; KeyError names the kinds there are."""
    try:
        return BUILT_IN[kind]
    except KeyError:
        known = ", ".join(sorted(BUILT_IN))
        raise KeyError(f"unknown source kind {kind!r}; known kinds: {known}") from None
