"""End to end on the console: guarded replies, held ones approved, edited or rejected by a
lead, previews, and the rule that nothing but `reply` ever posts in public."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.chat import MessageRef
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.commands import VERBS
from bot.domain.mentions import State
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions, replies
from bot.workflow import Context
from tests.conftest import ConsoleHarness, write_posts
from tests.stores import rows

HOSTILE = "Calm down, it is all in the FAQ."


def sent(h: ConsoleHarness) -> list[tuple[str, str]]:
    """What the replay platform received: (in reply to, text)."""
    return list(h.app.connectors["social"].sent)  # type: ignore[attr-defined]


def public_rows(h: ConsoleHarness) -> int:
    """Public replies ever queued, whatever became of them."""
    found = rows(h.app.settings.db_path, "SELECT count(*) FROM outbox WHERE kind = 'public_reply'")
    return int(found[0][0])


async def history(h: ConsoleHarness, number: int) -> list[tuple[str, str]]:
    events = await h.app.database.read(mentions.events, number=number)
    return [(e.action.value, e.actor) for e in events]


@pytest.fixture
async def ready(harness: ConsoleHarness) -> ConsoleHarness:
    """The stock harness (team support led by dana) with its three posts in channels."""
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    harness.output()
    return harness


async def test_a_held_reply_waits_then_the_lead_approves_it_once(ready: ConsoleHarness) -> None:
    h = ready
    answer = await h.say(f"reply 2 {HOSTILE}")
    assert answer.startswith("Your reply to #2 waits for a lead's approval; nothing is posted")
    assert '- tone: reads as dismissive or rude ("calm down")' in answer
    assert answer.endswith("Asked: dana. You will be told what they decide.")
    await h.app.outbox.drain()
    assert sent(h) == [] and public_rows(h) == 0
    printed = h.output()
    asked = (
        "(only dana sees this) alice's answer to #2 (@bob on the demo network) waits for your"
        " approval"
    )
    assert asked in printed
    assert "> Calm down, it is all in the FAQ." in printed
    assert (
        "Approve: `approve 2` · Edit: `edit 2 <new text>` · Reject: `reject 2 <reason>`" in printed
    )
    assert "#support thread: alice's answer waits for a lead's approval (tone)" in printed
    assert "Claimed by alice · answer waits for a lead's approval" in printed  # the card
    mention = await h.app.database.read(mentions.get, number=2)
    assert mention is not None and mention.state == State.CLAIMED  # not answered yet

    # Neither the writer nor anyone else but a lead can let it out.
    only_leads = "Only the leads of team support (dana) can approve answers to #2."
    assert await h.say("approve 2", "bob") == only_leads
    assert await h.say("approve 2", "alice") == only_leads
    assert await h.say("edit 2 Fine, sent anyway", "bob") == only_leads.replace("approve", "edit")
    assert await h.say("reject 2 no", "bob") == only_leads.replace("approve", "reject")
    await h.app.outbox.drain()
    assert sent(h) == [] and public_rows(h) == 0

    assert await h.say("approve 2", "dana") == "Approved alice's answer to #2; it is being posted."
    assert sent(h) == [("a2", HOSTILE)]
    printed = h.output()
    assert "(only alice sees this) dana approved your answer to #2; it is being posted." in printed
    assert "#support thread: dana approved alice's answer." in printed
    assert "#support thread: alice's answer is posted in the customer's thread" in printed

    # A second approval, or a restart of the worker, posts nothing more.
    assert (await h.say("approve 2", "dana")).startswith(
        "No answer to #2 waits for approval: dana approved alice's answer at"
    )
    await h.app.outbox.recover()
    await h.app.outbox.drain()
    assert sent(h) == [("a2", HOSTILE)] and public_rows(h) == 1
    assert await history(h, 2) == [
        ("ingest", "allhands"), ("announce", "allhands"), ("claim", "alice"),
        ("hold", "alice"), ("approve", "dana"), ("answer", "alice"),
    ]  # fmt: skip
    events = await h.app.database.read(mentions.events, number=2)
    assert events[3].detail == {"reply": 1, "reasons": ["tone"], "approvers": ["dana"]}
    assert events[5].detail == {"reply": 1, "public": True, "approved_by": "dana", "edited": False}
    stored = await h.app.database.read(replies.for_mention, mention=2)
    assert [(r.actor, r.status) for r in stored] == [("alice", "sent")]


async def test_a_rejected_reply_is_never_posted(ready: ConsoleHarness) -> None:
    h = ready
    await h.say(f"reply 3 {HOSTILE}")
    assert await h.say("reject 3 too sharp, please soften it", "dana") == (
        "Rejected alice's answer to #3; nothing was posted."
    )
    printed = h.output()
    assert (
        "(only alice sees this) dana rejected your answer to #3: too sharp, please soften it."
        " Nothing was posted; write a new one with `reply 3 <text>`"
    ) in printed
    assert "#support thread: dana rejected alice's answer; nothing was posted." in printed
    assert await h.say("approve 3", "dana") == (
        "No answer to #3 waits for approval: dana rejected alice's answer at 2026-01-05 09:00 UTC."
    )
    await h.app.outbox.drain()
    assert sent(h) == [] and public_rows(h) == 0
    events = await h.app.database.read(mentions.events, number=3)
    assert events[-1].action.value == "reject"
    assert events[-1].detail == {"reply": 1, "reason": "too sharp, please soften it"}
    # The writer still has the mention and answers again, kindly this time.
    answer = await h.say("reply 3 Thanks for the kind words, we're glad you like it!")
    assert answer == "Sending your reply to #3 on the demo network, in the customer's thread."
    assert sent(h) == [("a3", "Thanks for the kind words, we're glad you like it!")]
    stored = await h.app.database.read(replies.for_mention, mention=3)
    assert [r.status for r in stored] == ["rejected", "sent"]


async def test_an_edited_reply_is_posted_with_the_leads_text(ready: ConsoleHarness) -> None:
    h = ready
    await h.say(f"reply 2 {HOSTILE}")
    # The lead's text passes the same rules (but is not held: the lead is the approval).
    refused = await h.say("edit 2 Mail us at help@lumo-mail.com", "dana")
    assert refused.startswith("Not sent: your text for #2 breaks a rule; the answer still waits.")
    assert "- private_data: an e-mail address (h…@lumo-mail.com)" in refused
    better = "Sorry for the trouble! It's under Settings, then Security."
    assert await h.say(f"edit 2 {better}", "dana") == (
        "Edited and approved alice's answer to #2; it is being posted."
    )
    assert sent(h) == [("a2", better)]
    printed = h.output()
    told = f"dana edited and approved your answer to #2; it is being posted. It now reads: {better}"
    assert told in printed
    events = await h.app.database.read(mentions.events, number=2)
    assert [e.action.value for e in events][-3:] == ["hold", "edit", "answer"]
    assert events[-2].detail == {"reply": 1, "before": HOSTILE, "after": better}
    stored = await h.app.database.read(replies.for_mention, mention=2)
    assert [(r.actor, r.text, r.status) for r in stored] == [("alice", better, "sent")]


async def test_two_approvals_at_once_post_once(ready: ConsoleHarness) -> None:
    h = ready
    await h.say(f"reply 2 {HOSTILE}")
    ctx = Context(actor="dana")
    answers = await asyncio.gather(
        *(h.app.workflow.handle(line, ctx) for line in ("approve 2", "approve 2", "edit 2 Hi"))
    )
    await h.app.outbox.drain()
    assert sum(a.ok for a in answers) == 1
    assert len(sent(h)) == 1 and public_rows(h) == 1


async def test_one_answer_waits_at_a_time_and_closed_mentions_are_not_sent(
    ready: ConsoleHarness,
) -> None:
    h = ready
    await h.say(f"reply 2 {HOSTILE}")
    assert await h.say("reply 2 Settings, then Security.") == (
        "alice's answer to #2 already waits for a lead's approval; a lead can `approve 2`,"
        " `edit 2 <text>` or `reject 2 <reason>`."
    )
    await h.say("resolve 2")
    assert await h.say("approve 2", "dana") == (
        "#2 is resolved, so alice's answer cannot be sent; `reopen 2` first, or"
        " `reject 2 <reason>`."
    )
    await h.say("reopen 2", "bob")
    await h.say("claim 2", "bob")
    assert await h.say("approve 2", "dana") == (
        "#2 is now claimed by bob, so alice's answer cannot be sent; `reject 2 <reason>`, or"
        " `assign 2 alice` and approve again."
    )
    await h.say("assign 2 alice", "bob")
    assert await h.say("approve 2", "dana") == "Approved alice's answer to #2; it is being posted."
    assert sent(h) == [("a2", HOSTILE)]


async def test_refusals_name_each_rule_and_offer_a_private_reply(ready: ConsoleHarness) -> None:
    h = ready
    answer = await h.say("reply 2 Send your card 4111 1111 1111 1111 to ann@example.org")
    assert answer.splitlines() == [
        "Not sent: your reply to #2 breaks 2 rules (nothing was stored).",
        "- private_data: an e-mail address (a…@example.org); remove it and ask the customer to"
        " write to us privately",
        "- private_data: a payment card number (ending 1111); remove it and ask the customer to"
        " write to us privately, and never to send us the card number",
        "Ready to send instead: reply 2 Hi @bob, thanks for getting in touch. So that we can"
        " look into this safely, please send us a private message with the details, and we'll"
        " take it from there.",
    ]
    mention = await h.app.database.read(mentions.get, number=2)
    assert mention is not None and mention.state == State.OPEN  # nothing changed
    assert await h.app.database.read(replies.for_mention, mention=2) == []
    # The offered text is ready to send as it is.
    offered = answer.splitlines()[-1].removeprefix("Ready to send instead: ")
    assert (
        await h.say(offered)
        == "Sending your reply to #2 on the demo network, in the customer's thread."
    )


async def test_billing_has_no_lead_so_a_hostile_reply_is_refused(ready: ConsoleHarness) -> None:
    answer = await ready.say("reply 1 Calm down, we refunded it.")
    assert answer.splitlines() == [
        "Not sent: your reply to #1 breaks 1 rule (nothing was stored).",
        '- tone: reads as dismissive or rude ("calm down"). Rephrase it calmly.',
    ]


async def test_preview_shows_what_where_and_as_whom_and_sends_nothing(
    ready: ConsoleHarness,
) -> None:
    h = ready
    before = await history(h, 2)
    shown = await h.say("preview 2 Settings, then Security.")
    assert shown.splitlines() == [
        "Preview of your reply to #2; nothing is sent.",
        "Where: the demo network (source social), in reply to @bob's post"
        " https://social.example/@bob/a2, in the customer's thread.",
        "As: the demo account of 'social' (replay: replies stay on this machine).",
        "Length: 24 of 500 characters, as the demo network counts them.",
        "Text, exactly as it would be posted:",
        "  Settings, then Security.",
        "Verdict: it passes every check; `reply 2 <the same text>` sends it.",
    ]
    held = await h.say(f"preview 2 {HOSTILE}")
    assert "Verdict: it would wait for a lead's approval (dana would be asked)." in held
    refused = await h.say("preview 2 call +44 20 7946 0958")
    assert "Verdict: it would be refused." in refused
    assert "Ready to send instead: reply 2 Hi @bob," in refused
    await h.say("claim 2", "bob")
    blocked = await h.say("preview 2 hello")
    assert blocked.endswith("But: #2 is claimed by bob; ask them, or `assign 2 <you>` first.")
    await h.app.outbox.drain()
    assert sent(h) == [] and public_rows(h) == 0
    assert await history(h, 2) == [*before, ("claim", "bob")]
    assert await h.app.database.read(replies.for_mention, mention=2) == []


async def test_internal_by_default_nothing_but_reply_posts(ready: ConsoleHarness) -> None:
    """No command other than `reply` (and a lead releasing a held answer), and nothing typed
    in a card's thread, ever queues a public reply."""
    h = ready
    sending = {"reply", "approve", "edit"}
    lines = {
        "help": ["help"], "list": ["list", "list all"], "show": ["show 2"],
        "claim": ["claim 2"], "release": ["release 2"], "resolve": ["resolve 3"],
        "reopen": ["reopen 3"], "ignore": ["ignore 3 reply 3 hello"],
        "snooze": ["snooze 2 1h"], "assign": ["assign 2 @dana"],
        "preview": ["preview 2 Thanks, fixed!", "preview 2 reply 2 hi"],
        "reject": ["reject 2 reply 2 hi"],
        "move": ["move 2 billing", "move 2 reply 2 hi"], "kind": ["kind 2 complaint"],
    }  # fmt: skip
    assert set(lines) | sending == set(VERBS), "a new verb: does it post? add it here"
    for verb in lines:
        for line in lines[verb]:
            await h.say(line, "dana")
            await h.say(line)
    for text in ("reply 2 Thanks, fixed!", "/allhands reply 2 hi", "approve 2", "Thanks, fixed!"):
        answer = await h.app.workflow.thread_message(2, text, Context(actor="alice"))
        assert answer.text == (
            "Noted in #2's history; the customer does not see it. To answer them, use"
            " `reply 2 <text>`."
        )
    await h.app.outbox.drain()
    assert sent(h) == [] and public_rows(h) == 0
    notes = [e for e in await h.app.database.read(mentions.events, number=2) if e.action == "note"]
    assert [n.detail["text"] for n in notes][:2] == [
        "reply 2 Thanks, fixed!",
        "/allhands reply 2 hi",
    ]
    # ...and `reply` does.
    await h.say("reply 2 Thanks, fixed!", "dana")
    assert public_rows(h) == 1


# --- Approval rules from a playbook: audience size and coaching --------------------------

PLAYBOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
templates:
  private: "Hi @{{author}}, please DM us so we can check your account. {{agent}}"
teams:
  care:
    channel: console:#care
    leads: [dana, felix]
    guardrails:
      account_patterns: ['\\bLU-\\d{{8}}\\b']
      sign_off: "– Lumo"
      link_domains: [lumo.example]
      approval:
        audience_over: 10000
        first_replies: 2
"""


class RecordingConsole(ConsoleAdapter):
    """A console that shows approval requests with buttons, as Slack and Teams do."""

    def __init__(self, out: io.StringIO):
        super().__init__(out)
        self.requests: list[ApprovalRequest] = []
        self.redrawn: list[tuple[MessageRef, ApprovalRequest, ApprovalDecision]] = []

    async def ask_approval(self, request: ApprovalRequest) -> MessageRef:
        self.requests.append(request)
        return MessageRef("console", f"@{request.person}", str(len(self.requests)))

    async def show_decision(
        self, ref: MessageRef, request: ApprovalRequest, decision: ApprovalDecision
    ) -> None:
        self.redrawn.append((ref, request, decision))


@pytest.fixture
async def care(tmp_path: Path, clock: FakeClock) -> AsyncIterator[ConsoleHarness]:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, [
        {"id": "b1", "text": "My router died", "author": {"handle": "ann", "followers": 12}},
        {"id": "b2", "text": "Router dead?", "author": {"handle": "star", "followers": 250_000}},
        {"id": "b3", "text": "No signal", "author": {"handle": "cy", "followers": 40}},
        {"id": "b4", "text": "Wifi slow", "author": {"handle": "di", "followers": 7}},
    ])  # fmt: skip
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(replay=replay), encoding="utf-8")
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=str(tmp_path / "app.db")),
        adapters={"console": RecordingConsole(out)},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    await app.poll_all()
    await app.outbox.drain()
    harness = ConsoleHarness(app, out, replay)
    harness.output()
    yield harness
    await app.stop()


def requests(h: ConsoleHarness) -> list[ApprovalRequest]:
    adapter = h.app.outbox.adapters["console"]
    assert isinstance(adapter, RecordingConsole)
    return adapter.requests


async def test_coaching_and_big_accounts_wait_for_either_lead(care: ConsoleHarness) -> None:
    h = care
    # alice's first two replies wait (coaching); the approval request is platform-neutral.
    answer = await h.say("reply 1 We're on it. – Lumo")
    assert "- first_replies: a lead reads each person's first 2 replies before they go" in answer
    assert "Asked: dana, felix." in answer
    await h.app.outbox.drain()
    assert sorted((r.person, r.mention, r.responder, r.text) for r in requests(h)) == [
        ("dana", 1, "alice", "We're on it. – Lumo"),
        ("felix", 1, "alice", "We're on it. – Lumo"),
    ]
    first = requests(h)[0]
    assert (first.approve, first.edit, first.reject) == (
        "approve 1", "edit 1 <new text>", "reject 1 <reason>",
    )  # fmt: skip
    assert first.reasons[0].startswith("first_replies: ")
    assert (first.author, first.source) == ("ann", "the demo network")  # as people name it
    assert first.url == "https://social.example/@ann/b1"
    assert await h.say("approve 1", "felix") == "Approved alice's answer to #1; it is being posted."
    await h.app.outbox.drain()
    # Both leads' requests now show the decision; nobody needs telling besides.
    adapter = h.app.outbox.adapters["console"]
    assert isinstance(adapter, RecordingConsole)
    # Each lead's private chat is its own lane: the two redraws come in either order.
    assert sorted((ref.channel, r.person, d.state, d.by) for ref, r, d in adapter.redrawn) == [
        ("@dana", "dana", "approved", "felix"),
        ("@felix", "felix", "approved", "felix"),
    ]
    assert "nothing more to do" not in h.output()
    assert "waits for a lead" in await h.say("reply 3 Looking into it. – Lumo")
    await h.say("approve 3", "dana")
    # The third goes straight out.
    assert await h.say("reply 4 Looking into it. – Lumo") == (
        "Sending your reply to #4 on the demo network, in the customer's thread."
    )
    # A big account waits for a lead whoever answers, except a lead.
    answer = await h.say("reply 2 Checking now. – Lumo")
    assert "- audience: @star has 250,000 followers, more than the 10,000" in answer
    await h.say("reject 2 let me take this one", "dana")
    await h.say("assign 2 dana", "dana")
    assert await h.say("reply 2 Checking now, sorry! – Lumo", "dana") == (
        "Sending your reply to #2 on the demo network, in the customer's thread."
    )
    assert [text for _, text in sent(h)] == [
        "We're on it. – Lumo", "Looking into it. – Lumo", "Looking into it. – Lumo",
        "Checking now, sorry! – Lumo",
    ]  # fmt: skip


async def test_team_rules_refuse_with_the_playbooks_private_template(care: ConsoleHarness) -> None:
    answer = await care.say("reply 1 Your account LU-1234 5678 is fixed, see bit.ly/x")
    assert answer.splitlines() == [
        "Not sent: your reply to #1 breaks 3 rules (nothing was stored).",
        "- private_data: an order or account number (LU…78); remove it and ask the customer to"
        " write to us privately",
        '- sign_off: every reply ends with the sign-off "– Lumo"; add it',
        "- link_domain: links to bit.ly are not allowed (allowed: lumo.example); remove them or"
        " link to an allowed page",
        "Once fixed, it would wait for a lead's approval (first_replies).",
        "Ready to send instead: reply 1 Hi @ann, please DM us so we can check your account."
        " alice – Lumo",
    ]


async def test_a_held_reply_survives_a_restart(care: ConsoleHarness, tmp_path: Path) -> None:
    h = care
    await h.say("reply 1 We're on it. – Lumo")
    await h.app.stop()
    again = App(
        settings=h.app.settings,
        adapters=h.app.adapters,
        clock=h.app.clock,
        playbooks=h.app.playbooks,
    )
    await again.start()
    h.app = again
    assert await h.say("approve 1", "dana") == "Approved alice's answer to #1; it is being posted."
    assert sent(h) == [("b1", "We're on it. – Lumo")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("approve 99", "There is no #99. `list` shows what is open."),
        ("approve 1", "No answer to #1 waits for approval."),
        ("reject 1", "`reject 1` needs why, e.g. `reject 42 too sharp, please soften it`."),
        ("edit 1", "`edit 1` needs the text to post instead, e.g. `edit 42 Sorry about that, we"
         " are on it`."),
        ("preview 1", "`preview 1` needs the reply to check, e.g. `preview 42 Thanks, we are on"
         " it`."),
        ("approve 1 now", "`approve 1` takes nothing more; got `now`."),
    ],
)  # fmt: skip
async def test_bad_approval_commands_get_one_line(
    care: ConsoleHarness, line: str, message: str
) -> None:
    assert await care.say(line, "dana") == message


def _payload(**changes: Any) -> dict[str, Any]:
    base = ApprovalRequest(
        person="dana", mention=4, reply=9, text="hi", reasons=("tone: x",), responder="al"
    ).payload()
    return {**base, **changes}


def test_approval_request_payload_round_trips() -> None:
    request = ApprovalRequest.from_payload(_payload(text="<!channel> hi", author="x"))
    assert request.text == "<!channel> hi" and request.reasons == ("tone: x",)
    assert ApprovalRequest.from_payload(request.payload()) == request


async def test_a_held_answer_on_a_source_without_replies_is_posted_by_hand(
    ready: ConsoleHarness,
) -> None:
    from bot.domain.mentions import Author, Item, Triage

    h = ready
    await h.app.database.write(
        mentions.ingest, source="blog",
        items=[(Item(external_id="e1", text="Outage post", author=Author("status"),
                     url="https://blog.example/outage"),
                Triage("complaint", -0.5, "high", "support", "test"))],
        cursor=None, now=h.app.clock.now(), channel_of={"support": "console:#support"},
    )  # fmt: skip
    assert "waits for a lead's approval" in await h.say("reply 4 Calm down, it is fixed.")
    assert await h.say("approve 4", "dana") == (
        "Approved alice's answer to #4; they will post it by hand."
    )
    told = "dana approved your answer to #4; post it by hand at https://blog.example/outage."
    assert f"(only alice sees this) {told}" in h.output()
    stored = await h.app.database.read(replies.for_mention, mention=4)
    assert [r.status for r in stored] == ["manual"]
    events = await h.app.database.read(mentions.events, number=4)
    assert events[-1].action.value == "answer" and events[-1].detail["public"] is False
    assert public_rows(h) == 0


async def test_hostile_text_in_approvals_cannot_drive_the_terminal(ready: ConsoleHarness) -> None:
    h = ready
    await h.say("reply 2 Calm down <!channel> @here")
    await h.say("reject 2 no\x1b[2J\x07 <!everyone>", "dana")
    await h.say("reply 3 Shut up\u202e")  # refused: hidden text
    printed = h.output()
    assert "\x1b" not in printed and "\x07" not in printed
    assert "> Calm down <!channel> @here" in printed  # shown as text: a terminal pings no one
    assert "rejected your answer to #2: no[2J <!everyone>." in printed


async def test_thread_messages_on_unknown_mentions_are_refused(ready: ConsoleHarness) -> None:
    answer = await ready.app.workflow.thread_message(99, "hi", Context(actor="alice"))
    assert (answer.ok, answer.text) == (False, "There is no #99. `list` shows what is open.")


@pytest.mark.parametrize(
    ("guardrails", "problem"),
    [
        ("phone_regions: [XX]", "guardrails.phone_regions[0]: 'XX' is not a country code; write"
         " two letters, e.g. US, GB, PT"),
        ("link_domains: ['https://lumo.example/x']", "guardrails.link_domains[0]:"
         " 'https://lumo.example/x' is not a domain; write it like lumo.example (no https://"
         " and no path)"),
        ("account_patterns: ['LU-(']", "guardrails.account_patterns[0]: regex does not"
         " compile"),
        ("approval: {first_replies: -1}", "guardrails.approval.first_replies: must be 0 or"
         " more, not -1"),
        ("approval: {on_hodl: true}", "guardrails.approval.on_hodl: unknown key (did you mean"
         " 'on_hold'?)"),
    ],
)  # fmt: skip
def test_bad_guardrails_are_refused_with_file_and_line(
    tmp_path: Path, guardrails: str, problem: str
) -> None:
    from bot.errors import ConfigError

    book = tmp_path / "book.yaml"
    book.write_text(
        f"teams:\n  care:\n    channel: console:#care\nguardrails:\n  {guardrails}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_playbooks(book)
    assert f"{book}:5: {problem}" in str(caught.value)


def test_phone_regions_and_domains_are_read_as_written(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        "teams:\n  care:\n    channel: console:#care\nguardrails:\n"
        "  phone_regions: [pt, ES]\n  link_domains: [WWW.Lumo.example]\n",
        encoding="utf-8",
    )
    rails = load_playbooks(book).teams["care"].guardrails
    assert rails.phone_regions == ["PT", "ES"] and rails.link_domains == ["lumo.example"]
