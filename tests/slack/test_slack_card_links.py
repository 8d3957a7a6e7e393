"""Private notes about a mention link to its card on Slack (chat.getPermalink), or say where."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.playbooks import load_playbooks
from tests.fakes.slack_api import Failure
from tests.slack.conftest import FELIX, PLAYBOOK, SUPPORT, SlackHarness

FELIX_DM = "D" + FELIX[1:]
WORDS = "The card is in #C0SUPPORT1 on Slack."  # the sentence a link stands for


def _with_sla(slack: SlackHarness, tmp_path: Path) -> None:
    """Support promises an answer within an hour, and Felix is its lead."""
    text = PLAYBOOK.format(replay=slack.replay).replace(
        "    channel: slack:C0SUPPORT1\n",
        "    channel: slack:C0SUPPORT1\n    leads: [U0FELIX001]\n"
        "    sla: {claim_within: 2h, escalate_after: 1h, release_claim_after: 2h}\n",
    )
    book = tmp_path / "sla.yaml"
    book.write_text(text, encoding="utf-8")
    slack.app.playbooks = load_playbooks(book)


async def _escalated(slack: SlackHarness) -> list[str]:
    """Two support mentions wait past the promise; what Felix is told about them."""
    await slack.app.poll_all()
    await slack.settle()
    slack.clock.advance(timedelta(minutes=90))
    await slack.app.sla.sweep()
    await slack.settle()
    return [str(m["text"]) for m in slack.fake.messages(FELIX_DM)]


async def test_an_escalation_links_to_the_card_asked_once(
    slack: SlackHarness, tmp_path: Path
) -> None:
    _with_sla(slack, tmp_path)
    [note] = [t for t in await _escalated(slack) if t.startswith("Escalation for Support: #2")]
    ts = slack.card_ts(SUPPORT, 2)
    link = f"https://lumo.slack.example/archives/{SUPPORT}/p{ts.replace('.', '')}"
    assert note.endswith(f"The card: {link}") and WORDS not in note
    asked = [c.args for c in slack.fake.calls_to("chat.getPermalink")]
    assert asked.count({"channel": SUPPORT, "message_ts": ts}) == 1
    # Later notes about the same card use the link already had.
    slack.clock.advance(timedelta(hours=1))
    await slack.command("claim 2", user=FELIX, channel=SUPPORT)
    await slack.settle()
    slack.clock.advance(timedelta(hours=3))  # Felix's claim lapses: he is told, with the link
    await slack.app.sla.sweep()
    await slack.settle()
    released = [t for t in map(str, (m["text"] for m in slack.fake.messages(FELIX_DM)))]
    assert any(t.startswith("#2 went back") and t.endswith(link) for t in released), released
    assert [c.args for c in slack.fake.calls_to("chat.getPermalink")] == asked


async def test_without_a_link_the_note_says_where_the_card_is(
    slack: SlackHarness, tmp_path: Path
) -> None:
    _with_sla(slack, tmp_path)
    slack.fake.fail("chat.getPermalink", Failure(status=200, error="message_not_found", times=10))
    notes = await _escalated(slack)
    [note] = [t for t in notes if t.startswith("Escalation for Support: #2")]
    assert note.endswith(WORDS) and "archives" not in note
    assert slack.fake.calls_to("chat.getPermalink")  # asked, refused, and the note still went


async def test_a_card_not_posted_yet_is_named_by_its_channel(
    slack: SlackHarness, tmp_path: Path
) -> None:
    _with_sla(slack, tmp_path)
    # Slack takes nothing in the support channel: its cards wait in the outbox.
    slack.fake.fail("chat.postMessage", Failure(status=503, times=1000, channel=SUPPORT))
    notes = await _escalated(slack)
    [note] = [t for t in notes if t.startswith("Escalation for Support: #2")]
    assert note.endswith(WORDS)
    assert not slack.fake.calls_to("chat.getPermalink")  # nothing to ask about
