"""Star ratings of app-store reviews: how they read on a card and what they say in triage.

A review's stars say more plainly than its words whether the customer is unhappy: one or
two stars is a complaint, whatever the text sounds like. Pure.
"""

from __future__ import annotations

COMPLAINT_AT_MOST = 2  # stars: a review rated this low or lower is a complaint
MAX_STARS = 5


def kind_for_rating(kind: str, rating: int | None) -> str:
    """The kind triage gave, or `complaint` for a review of one or two stars."""
    if rating is not None and 1 <= rating <= COMPLAINT_AT_MOST:
        return "complaint"
    return kind


def stars(rating: int | None) -> str:
    """`★★☆☆☆ 2/5`, or empty when the post has no rating."""
    if rating is None or not 1 <= rating <= MAX_STARS:
        return ""
    return "★" * rating + "☆" * (MAX_STARS - rating) + f" {rating}/{MAX_STARS}"
