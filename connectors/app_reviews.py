"""What the App Store and Google Play sources share: an app's reviews, read newest first
page by page back to where the last poll stopped, through the store's API with a token
the connector signs in for (and renews once when the store refuses it).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from bot.domain.mentions import Item
from connectors.base import Batch, Connector
from connectors.jsonapi import ApiResponse, ApiSettings, JsonApi, PlatformError
from connectors.newest_first import EdgeWalk, dump_edge, load_edge
from connectors.oauth import AccessToken, TokenKeeper


class ReviewSettings(ApiSettings, Protocol):
    """The settings every review source has."""

    @property
    def max_pages(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of reviews as the store sent them, the token of the next page, and how
    long to wait before reading again when the store's rate limit is nearly used up."""

    entries: list[Any]
    next_token: str | None = None
    wait: float | None = None


class AppReviewsConnector(Connector):
    """Base of a store's review source: `fetch` walks the pages `_page` reads."""

    can_reply: ClassVar[bool] = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.api = JsonApi.of(self.http, self.settings, clock=self.clock)
        self.keeper = TokenKeeper(self._sign_in, clock=self.clock)

    @property
    @abstractmethod
    def settings(self) -> ReviewSettings:
        """The config, typed as the connector's own."""

    @abstractmethod
    async def _sign_in(self, stale: AccessToken | None) -> AccessToken:
        """A new access token for the store's API."""

    @abstractmethod
    async def _page(self, token: str | None) -> ReviewPage:
        """The page of reviews at `token` (None: the newest)."""

    @abstractmethod
    def _item(self, entry: Any) -> Item | None:
        """A review as an item, or None (logged) when it is unusable."""

    async def _call(
        self, method: str, path: str, *, params: Any = None, body: Any = None
    ) -> ApiResponse:
        return await self.keeper.call(self.api, method, path, params=params, json_body=body)

    async def fetch(self, cursor: str | None) -> Batch:
        """Reviews newer than `cursor`, oldest first."""
        walk = EdgeWalk(load_edge(cursor, self.source_id))
        items: list[Item] = []
        page = ReviewPage(entries=[])
        try:
            for _ in range(self.settings.max_pages):
                page = await self._page(page.next_token)
                for entry in page.entries:
                    item = self._item(entry)
                    at = item.created_at if item is not None else None
                    if item is not None and at is not None and walk.take(item.external_id, at):
                        items.append(item)
                    if walk.past:
                        break
                if page.wait is not None or walk.reached or not page.next_token:
                    break
        except PlatformError as exc:
            raise exc.source_error(self.source_id) from None
        items.sort(key=lambda item: (item.created_at, item.external_id))
        return Batch(items=items, cursor=dump_edge(walk.next_edge()), retry_after=page.wait)
