"""Star ratings: one or two stars is a complaint; the card shows the stars and the title."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat.cards import build_card
from bot.domain.mentions import Author, Mention, State
from bot.domain.ratings import kind_for_rating, stars

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "rating", "expected"),
    [("praise", 1, "complaint"), ("question", 2, "complaint"), ("praise", 3, "praise"),
     ("other", 5, "other"), ("praise", None, "praise"), ("praise", 0, "praise")],
)  # fmt: skip
def test_one_or_two_stars_is_a_complaint(kind: str, rating: int | None, expected: str) -> None:
    assert kind_for_rating(kind, rating) == expected


def test_stars_read_as_stars() -> None:
    assert stars(2) == "★★☆☆☆ 2/5"
    assert stars(None) == stars(0) == stars(9) == ""


def test_the_card_shows_stars_and_title_above_the_text() -> None:
    mention = Mention(
        number=3, source="ios", external_id="r1", url="", author=Author(handle="ann"),
        text="Crashes every time I open it.", state=State.OPEN, team="support",
        kind="complaint", urgency="normal", sentiment=-0.5, created_at=NOW, received_at=NOW,
        title="Unusable", rating=1,
    )  # fmt: skip
    card = build_card(mention, now=NOW)
    assert card.text == "★☆☆☆☆ 1/5 · Unusable\n\nCrashes every time I open it."
