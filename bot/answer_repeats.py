"""The same answer is not posted twice by accident: a repeat within minutes is refused.

A dialog submitted twice, a command sent again, a colleague pasting the same text: an
answer identical (words, not spacing or case) to one given to the same conversation in
the last `REPEAT_WINDOW` is refused with when it was given, unless the writer says
`reply N --again <text>`. Answers that failed or may not have gone out do not count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.errors import CommandError
from bot.store import people, replies
from bot.store.sql import Conn

REPEAT_WINDOW = timedelta(minutes=10)
AGAIN = "--again"


def refuse_repeat(db: Conn, *, number: int, actor: str, text: str, now: datetime) -> None:
    """CommandError if this very answer was given to the conversation in the last minutes."""
    given = replies.given_already(db, mention=number, text=text, since=now - REPEAT_WINDOW)
    if given is None:
        return
    at, writer = given
    who = "you" if writer == actor else people.name_of(db, id=writer)
    raise CommandError(
        f"Not sent: {who} posted this already at {at:%H:%M} UTC to #{number}; add `{AGAIN}`"
        f" if you mean it: `reply {number} {AGAIN} <text>`."
    )


def split_again(text: str) -> tuple[str, bool]:
    """The answer without a leading `--again`, and whether it was there."""
    stripped = text.lstrip()
    if stripped == AGAIN or stripped.startswith(AGAIN + " ") or stripped.startswith(AGAIN + "\n"):
        return stripped[len(AGAIN) :].strip(), True
    return text, False
