"""Guardrails on reply texts: a table of texts with the verdict each must get, and the
approval rules. Pure: no store, no chat."""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.domain.approval_rules import ApprovalRules, decide
from bot.domain.guardrails import Policy, Rule, check_reply, fill_template
from bot.domain.lookalikes import fold
from bot.domain.phrases import links, phrase_pattern

ZW = "\u200b"  # zero-width space
POLICY = Policy(
    account_patterns=(r"\bLU-\d{8}\b",),
    banned_phrases=("as I already said", "not our fault", "guaranteed"),
    link_domains=("lumo.example",),
    phone_regions=("US", "GB", "PT"),
    max_length=280,
    platform="social",
)


@pytest.fixture(scope="module")
def analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def verdict_of(text: str, analyzer: SentimentIntensityAnalyzer, policy: Policy = POLICY) -> str:
    """`allowed`, `refused:<rules>` or `held:<rules>`, as a lead of another person sees it."""
    decision = decide(
        check_reply(text, policy, analyzer=analyzer),
        ApprovalRules(),
        responder="alice",
        leads=("dana",),
        team="support",
        audience=100,
        author="ann",
        earlier_replies=10,
    )
    if decision.outcome == "send":
        return "allowed"
    findings = decision.refused if decision.outcome == "refuse" else decision.held
    rules = "+".join(sorted({f.rule.value for f in findings}))
    return f"{'refused' if decision.outcome == 'refuse' else 'held'}:{rules}"


TABLE: list[tuple[str, str]] = [
    # Allowed: ordinary answers, numbers that are not private, links to our own domain.
    ("Thanks for reaching out! We've fixed it.", "allowed"),
    ("Sorry about that, a refund is on its way today.", "allowed"),
    ("We're sorry you had a terrible experience; we're on it.", "allowed"),
    ("Unfortunately the refund failed; we'll retry it today.", "allowed"),
    ("Find us at lumo.example, we're happy to help.", "allowed"),
    ("Have a look at help.lumo.example/reset for the steps.", "allowed"),
    ("Read more at https://www.lumo.example/blog/post?id=4", "allowed"),
    ("Email us through the form at https://lumo.example/contact", "allowed"),
    ("Your order of 2026-01-05 shipped today.", "allowed"),
    ("We refunded 1,299.00 EUR on 05/01/2026.", "allowed"),
    ("Version 10.2.3 fixes it.", "allowed"),
    ("It takes 3 to 5 working days.", "allowed"),
    ("We're open 9:00-17:00, Monday to Friday.", "allowed"),
    ("Ticket 12345 is closed now.", "allowed"),
    ("The card reader in the shop works again.", "allowed"),
    ("Thanks @ann, glad it works now!", "allowed"),
    ("Café Lumo's wi-fi is back up.", "allowed"),
    ("Hi", "allowed"),
    ("ok 👍", "allowed"),
    ("We can't share that here, but we are looking into it.", "allowed"),
    ("Restart it after 10.30 tonight and it should be fine.", "allowed"),
    ("4111 1111 1111 1112 is not a valid card number anyway.", "allowed"),  # fails Luhn
    ("Our survey had 1 2 3 answers.", "allowed"),
    ("A" + "a" * 279, "allowed"),  # exactly the limit
    (
        "Hi @ann, sorry about the double charge. We've refunded the second payment; it can"
        " take 3-5 days to show. More at help.lumo.example/refunds ^SM",
        "allowed",  # "show. More at help.lumo.example" is two sentences, not an address
    ),
    # Private data: e-mail addresses, plain and disguised.
    ("Email me at john.smith@gmail.com", "refused:private_data"),
    ("Write to ann+billing@mail.lumo.example", "refused:private_data"),
    ("Email me at jоhn.smith@gmаil.com", "refused:private_data"),  # Cyrillic о and а
    ("Contact ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ", "refused:private_data"),  # fullwidth
    (f"j{ZW}ohn@gm{ZW}ail.com is the address we have", "refused:private_data"),
    ("Write to john (at) gmail (dot) com", "refused:private_data"),
    ("Write to john [at] gmail [dot] com", "refused:private_data"),
    ("john dot smith at gmail dot com", "refused:private_data"),
    ("john.smith at gmail.com", "refused:private_data"),
    ("JOHN {AT} GMAIL {DOT} COM", "refused:private_data"),
    ("mailto:ann@example.org please", "refused:private_data"),
    # Phone numbers.
    ("Call me on +44 20 7946 0958", "refused:private_data"),
    ("Ring 020 7946 0958 tomorrow", "refused:private_data"),
    ("Call (415) 555-2671", "refused:private_data"),
    ("Call 415.555.2671", "refused:private_data"),
    ("Our agent is on +351 912 345 678", "refused:private_data"),
    ("My number: 0 2 0 7 9 4 6 0 9 5 8", "refused:private_data"),
    ("Call ＋４４ ２０ ７９４６ ０９５８", "refused:private_data"),  # fullwidth
    ("Call +٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", "refused:private_data"),  # Arabic-Indic digits
    (f"Call +44 20 79{ZW}46 0958", "refused:private_data"),
    ("Call four one five five five five two six seven one", "refused:private_data"),
    # Payment cards (Luhn-checked), in many spellings.
    ("Card 4111 1111 1111 1111 was charged", "refused:private_data"),
    ("Card 4111-1111-1111-1111", "refused:private_data"),
    ("Card 4111111111111111", "refused:private_data"),
    ("Card 4111.1111.1111.1111", "refused:private_data"),
    ("Card ４１１１ １１１１ １１１１ １１１１", "refused:private_data"),
    (f"Card 4111{ZW}1111{ZW}1111{ZW}1111", "refused:private_data"),
    ("Amex 3782 822463 10005", "refused:private_data"),
    ("Mastercard 5555 5555 5555 4444", "refused:private_data"),
    ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "refused:private_data"),
    # Order and account numbers, by the playbook's pattern; bank accounts.
    ("Your account LU-12345678 is fixed", "refused:private_data"),
    ("Your account lu-12345678 is fixed", "refused:private_data"),
    ("Your account LU-1234 5678 is fixed", "refused:private_data"),
    ("Your account LU–12345678 is fixed", "refused:private_data"),  # en dash
    ("Your account ＬＵ-１２３４５６７８ is fixed", "refused:private_data"),
    ("IBAN DE89 3704 0044 0532 0130 00 is on file", "refused:private_data"),
    # Banned phrases, disguised.
    ("As I already said, restart it.", "refused:banned_phrase"),
    ("as i ALREADY said: restart it", "refused:banned_phrase"),
    ("As I alr3ady s4id, restart it", "refused:banned_phrase"),
    ("That is nоt our fault.", "refused:banned_phrase"),  # Cyrillic о
    ("Delivery is g.u.a.r.a.n.t.e.e.d!", "refused:banned_phrase"),
    # Links to other domains.
    ("See https://bit.ly/abc", "refused:link_domain"),
    ("Log in at evil.com/login", "refused:link_domain"),
    ("Compare www.competitor.com", "refused:link_domain"),
    ("Go to lumo.example.evil.com/help", "refused:link_domain"),
    ("Open http://192.168.0.1/admin", "refused:link_domain"),
    ("Visit evil(dot)com", "refused:link_domain"),
    ("Visit еvil.com", "refused:link_domain"),  # Cyrillic е
    # Hidden or empty text, and length.
    ("\u202eThanks, fixed", "refused:hidden_text"),
    ("Thanks\x1b[2J, fixed", "refused:hidden_text"),
    ("Thanks 👩\u200d💻 team", "allowed"),  # a zero-width joiner inside an emoji is fine
    (".", "refused:empty"),
    (f"{ZW}{ZW}", "refused:empty"),
    ("A" + "a" * 280, "refused:length"),
    # Several problems at once: one line each.
    ("Email ann@gmail.com or see bit.ly/x", "refused:link_domain+private_data"),
    # Hostile tone: held for a lead.
    ("That's your own stupid fault, read the manual.", "held:tone"),
    ("Calm down, it is not our problem.", "held:tone"),
    ("PLEASE READ THE FAQ BEFORE WRITING", "held:tone"),
    ("You are wrong and rude.", "held:tone"),
    ("Shut up.", "held:tone"),
    ("Deal with it.", "held:tone"),
    ("Whatever works for you: chat, phone or the shop.", "allowed"),
    ("Y0u are an idi0t", "held:tone"),
    ("Honestly, your complaint is pathetic.", "held:tone"),
    ("You ruined it yourself.", "held:tone"),  # VADER: mostly negative, aimed at "you"
    ("Which of your stores sell the new Star Wars ice cream? All of them!", "allowed"),
    ("@SEPTA_SOCIAL @LUMO_HELP thank you!", "allowed"),  # handles are not shouting
]


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 60
    assert len({t for t, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[repr(t)[:40] for t, _ in TABLE])
def test_reply_table(text: str, expected: str, analyzer: SentimentIntensityAnalyzer) -> None:
    assert verdict_of(text, analyzer) == expected


def test_each_problem_is_one_line_naming_its_rule(analyzer: SentimentIntensityAnalyzer) -> None:
    verdict = check_reply(
        "As I already said, mail ann@gmail.com, call +44 20 7946 0958, card 4111 1111 1111"
        " 1111, account LU-12345678, see bit.ly/x",
        POLICY,
        analyzer=analyzer,
    )
    lines = [f.line() for f in verdict.findings]
    assert all("\n" not in line for line in lines)
    assert [line.split(":")[0] for line in lines] == [
        "private_data", "private_data", "private_data", "private_data",
        "banned_phrase", "link_domain",
    ]  # fmt: skip
    text = "\n".join(lines)
    assert "e-mail address (a…@gmail.com)" in text
    assert "card number (ending 1111)" in text
    assert "ann@gmail.com" not in text and "4111 1111" not in text  # masked, not repeated
    assert all("privately" in line for line in lines[:4])
    assert "links to bit.ly are not allowed (allowed: lumo.example)" in text


def test_length_is_counted_as_the_platform_counts() -> None:
    # A platform that counts every link as 23 characters, as X does.
    def count(text: str) -> int:
        return sum(23 if w.startswith("https://") else len(w) for w in text.split(" ")) + (
            text.count(" ")
        )

    policy = Policy(max_length=40, count=count, platform="x", link_domains=None)
    long_link = "https://lumo.example/" + "a" * 100
    assert check_reply(f"See {long_link}", policy).findings == ()
    findings = check_reply("b" * 41, policy).findings
    assert [f.line() for f in findings] == [
        "length: your reply is 41 characters; x allows 40. Shorten it by 1."
    ]


def test_sign_off_is_required_when_set() -> None:
    policy = Policy(sign_off="^SM")
    assert check_reply("Fixed, thanks! ^SM", policy).findings == ()
    assert check_reply("Fixed, thanks! ^ＳＭ", policy).findings == ()
    findings = check_reply("Fixed, thanks!", policy).findings
    assert [f.rule for f in findings] == [Rule.SIGN_OFF]
    assert findings[0].line() == 'sign_off: every reply ends with the sign-off "^SM"; add it'


def test_switched_off_checks_stay_off(analyzer: SentimentIntensityAnalyzer) -> None:
    relaxed = Policy(private_data=False, tone_check=False, link_domains=None)
    assert check_reply("Mail ann@gmail.com, you idiot; see bit.ly/x", relaxed).findings == ()
    # Account patterns are the playbook's own: they apply even without private_data.
    accounts = Policy(private_data=False, account_patterns=(r"\bLU-\d{8}\b",))
    assert [f.rule for f in check_reply("LU-12345678", accounts).findings] == [Rule.PRIVATE_DATA]


def test_a_slow_account_pattern_refuses_rather_than_hangs() -> None:
    # 2**60 ways to fail: without the engine's timeout this would run for years.
    policy = Policy(account_patterns=(r"(a|a)+b",))
    findings = check_reply("a" * 60, policy).findings
    assert [f.rule for f in findings] == [Rule.PRIVATE_DATA]
    assert "took too long" in findings[0].message


def test_fold_makes_disguises_plain() -> None:
    assert fold("раураl") == "paypal"  # Cyrillic р, а, у
    assert fold("ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ") == "john@gmail.com"
    assert fold(f"a{ZW}b\u2060c\ufeffd\u00ade") == "abcde"
    assert fold("٠١٢٣ ०१२३ 𝟎𝟏𝟐𝟑") == "0123 0123 0123"
    assert fold("Café – naïve") == "Cafe - naive"
    assert fold("𝐛𝐨𝐥𝐝 ℓ") == "bold l"


def test_phrase_patterns_tolerate_spacing_case_and_leetspeak() -> None:
    pattern = phrase_pattern("calm down")
    assert pattern is not None
    for text in ("Calm down", "CALM   DOWN", "c@lm d0wn", "calm...down", "c.a.l.m down"):
        assert pattern.search(fold(text)), text
    for text in ("calmly down", "becalm downstairs"):
        assert not pattern.search(fold(text)), text
    assert phrase_pattern("!!!") is None


def test_links_are_found_as_platforms_link_them() -> None:
    text = "a https://x.lumo.example/p b bit.ly/q c file.txt d thanks.We e 10.2.3 f ann@gmail.com"
    assert links(text) == ["x.lumo.example", "bit.ly"]


# --- Approval rules ---------------------------------------------------------------------


def decide_for(
    text: str = "Settings, then Security.",
    *,
    responder: str = "alice",
    leads: tuple[str, ...] = ("dana", "felix"),
    rules: ApprovalRules | None = None,
    audience: int | None = 100,
    earlier: int = 10,
    analyzer: SentimentIntensityAnalyzer | None = None,
) -> tuple[str, list[str], tuple[str, ...]]:
    decision = decide(
        check_reply(text, Policy(), analyzer=analyzer),
        rules or ApprovalRules(),
        responder=responder,
        leads=leads,
        team="support",
        audience=audience,
        author="ann",
        earlier_replies=earlier,
    )
    found = decision.refused or decision.held
    return decision.outcome, [f.line() for f in found], decision.approvers


def test_big_accounts_wait_for_a_lead() -> None:
    rules = ApprovalRules(audience_over=10_000)
    assert decide_for(rules=rules, audience=10_000)[0] == "send"
    assert decide_for(rules=rules, audience=None)[0] == "send"
    outcome, lines, approvers = decide_for(rules=rules, audience=120_000)
    assert outcome == "hold" and approvers == ("dana", "felix")
    assert lines == [
        "audience: @ann has 120,000 followers, more than the 10,000 above which a lead"
        " approves replies"
    ]


def test_first_replies_wait_for_a_lead_coaching() -> None:
    rules = ApprovalRules(first_replies=3)
    assert decide_for(rules=rules, earlier=0)[1] == [
        "first_replies: a lead reads each person's first 3 replies before they go out"
        " (coaching); this is reply 1 of them"
    ]
    assert decide_for(rules=rules, earlier=2)[0] == "hold"
    assert decide_for(rules=rules, earlier=3)[0] == "send"


def test_leads_skip_coaching_and_audience_but_not_tone(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    rules = ApprovalRules(first_replies=3, audience_over=10)
    assert decide_for(responder="dana", rules=rules, earlier=0, audience=99)[0] == "send"
    outcome, _, approvers = decide_for(
        "Calm down.", responder="@Dana", rules=rules, analyzer=analyzer
    )
    assert (outcome, approvers) == ("hold", ("felix",))  # never their own approver


def test_a_hold_nobody_can_approve_is_refused(analyzer: SentimentIntensityAnalyzer) -> None:
    outcome, lines, _ = decide_for(leads=(), rules=ApprovalRules(audience_over=10))
    assert outcome == "refuse"
    assert lines[0].endswith(
        "and team support has no lead to approve it; ask an admin to add one (teams.support.leads)"
    )
    outcome, lines, _ = decide_for("Calm down.", leads=("alice",), analyzer=analyzer)
    assert outcome == "refuse"
    assert lines == ['tone: reads as dismissive or rude ("calm down"). Rephrase it calmly.']


def test_without_on_hold_a_hostile_reply_is_refused(analyzer: SentimentIntensityAnalyzer) -> None:
    outcome, lines, _ = decide_for(
        "Shut up.", rules=ApprovalRules(on_hold=False), analyzer=analyzer
    )
    assert outcome == "refuse" and lines[0].startswith("tone: ")


def test_refusal_beats_hold(analyzer: SentimentIntensityAnalyzer) -> None:
    outcome, lines, _ = decide_for("Calm down and mail ann@gmail.com", analyzer=analyzer)
    assert outcome == "refuse" and lines[0].startswith("private_data: ")


def test_templates_fill_placeholders() -> None:
    assert fill_template("Hi @{author}, {agent} here {opens_at}", {"author": "ann"}) == (
        "Hi @ann,  here "
    )
