"""A feed item's title is kept: shown on the card above its text and triaged with it."""

from __future__ import annotations

from pathlib import Path

from bot.clock import FakeClock
from bot.store import mentions
from tests.fakes.feeds import FeedServer
from tests.source_app import console_app

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Acme on HN</title>
<item><title>Acme charged me twice</title><guid>hn-1</guid>
<link>https://news.example/item?id=1</link><description>See title.</description></item>
<item><title>How do I export my data?</title><guid>hn-2</guid>
<description>How do I export my data? Asking for a friend.</description></item>
</channel></rss>"""


async def test_a_title_only_item_reaches_the_card_and_triage(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with FeedServer() as feeds:
        url = feeds.serve("/hn.xml", FEED)
        source = f"  - id: hn-feed\n    kind: rss\n    url: {url}\n"
        async with console_app(tmp_path, clock, source) as harness:
            [polled] = await harness.app.poll_all()
            assert polled.new == 2
            await harness.app.outbox.drain()
            cards = harness.output()
            # Routed to billing by the word in its title; the card shows title then text.
            assert "#billing  #2 complaint" in cards  # feeds list the newest first
            assert "Acme charged me twice" in cards and "See title." in cards
            assert cards.index("Acme charged me twice") < cards.index("See title.")
            # A title the text starts with is not shown twice.
            assert cards.count("How do I export my data?") == 1
            first = await harness.app.database.read(mentions.get, number=2)
            assert first is not None and first.title == "Acme charged me twice"
            answer = await harness.say("reply 2 Sorry! Refunded.")
            assert "by hand" in answer and "https://news.example/item?id=1" in answer
