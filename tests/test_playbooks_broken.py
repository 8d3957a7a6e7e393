# ruff: noqa: E501  (a table of exact messages reads best one per line)
"""Broken playbooks, each refused with exactly the message an admin needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.playbooks import load_playbooks


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_playbooks(path)
    return [str(p).replace(str(path), path.name) for p in caught.value.problems]


CASES = [
    pytest.param(
        "",
        ["book.yaml: the file is empty (add sources: and teams:)"],
        id="empty",
    ),
    pytest.param(
        "# nothing here\n",
        ["book.yaml: the file is empty (add sources: and teams:)"],
        id="only-comment",
    ),
    pytest.param(
        "- teams\n- sources\n",
        [
            "book.yaml:1: the file is a list, not a mapping (start with keys such as sources: and teams:)"
        ],
        id="list",
    ),
    pytest.param(
        "just some text\n",
        [
            "book.yaml:1: the file is text, not a mapping (start with keys such as sources: and teams:)"
        ],
        id="scalar",
    ),
    pytest.param(
        "teams:\n\tsupport:\n\t\tchannel: slack:#s\n",
        [
            "book.yaml:2: YAML syntax error: found character '\\t' that cannot start any token (indent with spaces, not tabs)"
        ],
        id="tabs",
    ),
    pytest.param(
        "teams:\n  support:\n      channel: slack:#s\n    leads: [a]\n",
        [
            "book.yaml:4: YAML syntax error: expected <block end>, but found '<block mapping start>' (check the indentation of this line and the one above)"
        ],
        id="bad-indent",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    leads: [dana\n",
        ["book.yaml:5: YAML syntax error: expected ',' or ']', but got '<stream end>'"],
        id="unclosed-bracket",
    ),
    pytest.param(
        'teams:\n  support:\n    channel: slack:#support\n    name: "Support\n',
        ["book.yaml:5: YAML syntax error: found unexpected end of stream"],
        id="unclosed-quote",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    channel: slack:#other\n",
        [
            'book.yaml:4: YAML syntax error: found duplicate key "channel" with value "slack:#other" (original value: "slack:#support")'
        ],
        id="duplicate-key",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nteem: {}\n",
        ["book.yaml:4: teem: unknown key (did you mean 'teams'?)"],
        id="unknown-top",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    chanel: slack:#x\n",
        ["book.yaml:4: teams.support.chanel: unknown key (did you mean 'channel'?)"],
        id="unknown-team-key",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      claim_in: 10m\n",
        ["book.yaml:5: teams.support.sla.claim_in: unknown key (did you mean 'claim_within'?)"],
        id="unknown-sla-key",
    ),
    pytest.param(
        "teams:\n  - support\n",
        ["book.yaml:1: teams: should be a mapping (key: value on lines below), not a list"],
        id="teams-list",
    ),
    pytest.param(
        "teams: 3\n",
        ["book.yaml:1: teams: should be a mapping (key: value on lines below), not a number"],
        id="teams-scalar",
    ),
    pytest.param(
        "teams:\n  support:\n    name: Support\n",
        ["book.yaml:2: teams.support.channel: is required"],
        id="missing-channel",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: '#support'\n",
        [
            "book.yaml:3: teams.support.channel: '#support' is not a channel; write platform:channel, e.g. slack:#support (platforms: console, slack, teams)"
        ],
        id="channel-no-platform",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: discord:#support\n",
        [
            "book.yaml:3: teams.support.channel: 'discord:#support' is not a channel; write platform:channel, e.g. slack:#support (platforms: console, slack, teams)"
        ],
        id="channel-unknown-platform",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#Customer Support\n",
        [
            "book.yaml:3: teams.support.channel: '#Customer Support' is not a Slack channel; write #name (lower case, no spaces) or its id like C0123ABCDEF"
        ],
        id="slack-channel-spaces",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: teams:general\n",
        [
            "book.yaml:3: teams.support.channel: 'general' is not a Teams channel id; it looks like 19:abc...@thread.tacv2 (type `@allhands channel` in the channel to see it)"
        ],
        id="teams-channel-bad",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    leads: dana\n",
        [
            "book.yaml:4: teams.support.leads: should be a list ([a, b] or lines starting with -), not text"
        ],
        id="leads-scalar",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      claim_within: 10 minutes\n",
        [
            "book.yaml:5: teams.support.sla.claim_within: '10 minutes' is not a duration; write it like 90s, 15m, 4h or 2d"
        ],
        id="sla-bad-duration",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      reply_within: 30\n",
        [
            "book.yaml:5: teams.support.sla.reply_within: 30 has no unit; write a duration like 90s, 15m, 4h or 2d"
        ],
        id="sla-number-duration",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      escalate_after: 0m\n",
        [
            "book.yaml:5: teams.support.sla.escalate_after: '0m' is not a duration; it must be longer than zero"
        ],
        id="sla-zero",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      clock: sometimes\n",
        [
            "book.yaml:5: teams.support.sla.clock: 'sometimes' is not allowed; input should be 'always' or 'business_hours'"
        ],
        id="sla-clock-bad",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      clock: business_hours\n",
        [
            "book.yaml:4: teams.support.sla: clock: business_hours needs hours: naming a business_hours entry"
        ],
        id="sla-business-no-hours",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      clock: business_hours\n      hours: offic\nbusiness_hours:\n  office:\n    timezone: Europe/Berlin\n",
        [
            "book.yaml:6: teams.support.sla.hours: unknown business_hours 'offic' (did you mean 'office'?)"
        ],
        id="sla-unknown-hours",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      holding_reply: back-son\n      hours: office\ntemplates:\n  back-soon: 'Back at {opens_at}'\nbusiness_hours:\n  office:\n    timezone: Europe/Lisbon\n",
        [
            "book.yaml:5: teams.support.sla.holding_reply: unknown template 'back-son' (did you mean 'back-soon'?)"
        ],
        id="sla-unknown-template",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    sla:\n      ping: everyone\n",
        [
            "book.yaml:5: teams.support.sla.ping: 'everyone' is not allowed; input should be 'none', 'here' or 'channel'"
        ],
        id="sla-ping-bad",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    timezone: Europe/Berln\n",
        [
            "book.yaml:6: business_hours.office.timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"
        ],
        id="hours-bad-tz",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    open: '08:00'\n",
        ["book.yaml:5: business_hours.office.timezone: is required"],
        id="hours-missing-tz",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    timezone: UTC\n    weekdays: [monday]\n",
        [
            "book.yaml:7: business_hours.office.weekdays[0]: 'monday' is not allowed; input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"
        ],
        id="hours-bad-weekday",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    timezone: UTC\n    open: '25:00'\n",
        [
            "book.yaml:7: business_hours.office.open: '25:00' is not a time of day; write it like 08:30 or 17:00"
        ],
        id="hours-bad-time",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    timezone: UTC\n    open: '18:00'\n    close: '08:00'\n",
        ["book.yaml:5: business_hours.office: close (08:00) must be after open (18:00)"],
        id="hours-close-before-open",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nbusiness_hours:\n  office:\n    timezone: UTC\n    holidays: [2026-13-01]\n",
        [
            "book.yaml:7: business_hours.office.holidays[0]: '2026-13-01' is not a date; write it like 2026-12-25"
        ],
        id="hours-bad-holiday",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\ntemplates:\n  hi: 'Hello {customer}'\n",
        [
            "book.yaml:5: templates.hi: unknown placeholder {customer}; known: {author}, {name}, {number}, {team}, {agent}, {url}, {opens_at}"
        ],
        id="template-unknown-placeholder",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\ntemplates:\n  hi: 'Hello {author'\n",
        [
            "book.yaml:5: templates.hi: template braces do not match: expected '}' before end of string; write {{ for a brace"
        ],
        id="template-bad-braces",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    digest:\n      time: 8am\n",
        [
            "book.yaml:5: teams.support.digest.time: '8am' is not a time of day; write it like 08:30 or 17:00"
        ],
        id="digest-bad-time",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\n    digest:\n      weekly: funday\n",
        [
            "book.yaml:5: teams.support.digest.weekly: 'funday' is not allowed; input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"
        ],
        id="digest-bad-weekly",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - team: sales\n    keywords: [buy]\n",
        ["book.yaml:5: routes[0].team: unknown team 'sales' (known teams: support)"],
        id="route-unknown-team",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - team: support\n",
        [
            "book.yaml:5: routes[0]: a route needs at least one condition (keywords, phrases, regex, sources, kinds, languages or authors); the fallback is default_team"
        ],
        id="route-no-condition",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - team: support\n    regex: '(unclosed'\n",
        ["book.yaml:6: routes[0].regex: regex does not compile: missing ) at position 9"],
        id="route-bad-regex",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - team: support\n    sources: [mastodn]\nsources:\n  - id: mastodon\n    kind: replay\n",
        ["book.yaml:6: routes[0].sources[0]: unknown source 'mastodn' (did you mean 'mastodon'?)"],
        id="route-unknown-source",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - team: support\n    kinds: [rant]\n",
        [
            "book.yaml:6: routes[0].kinds[0]: 'rant' is not allowed; input should be 'complaint', 'question', 'praise' or 'other'"
        ],
        id="route-bad-kind",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nroutes:\n  - keywords: [x]\n",
        ["book.yaml:5: routes[0].team: is required"],
        id="route-missing-team",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\ndefault_team: suport\n",
        ["book.yaml:4: default_team: unknown team 'suport' (did you mean 'support'?)"],
        id="default-team-unknown",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: rsss\n",
        ["book.yaml:6: sources[0].kind: unknown source kind 'rsss' (did you mean 'rss'?)"],
        id="source-unknown-kind",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - kind: replay\n",
        ["book.yaml:5: sources[0].id: is required"],
        id="source-missing-id",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: rss\n    url: ftp://example.com/feed\n",
        [
            "book.yaml:7: sources[0].url: 'ftp://example.com/feed' is not a feed address; write http://… or https://…"
        ],
        id="source-bad-url",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: rss\n    url: https://x.example/f\n    urll: x\n",
        ["book.yaml:8: sources[0].urll: unknown key (did you mean 'url'?)"],
        id="source-unknown-setting",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: rss\n",
        ["book.yaml:5: sources[0].url: is required"],
        id="source-missing-url",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - {id: a, kind: replay}\n  - {id: a, kind: replay}\n",
        ["book.yaml:6: sources[1].id: source id 'a' is used twice"],
        id="source-duplicate-id",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: replay\n    every: often\n",
        [
            "book.yaml:7: sources[0].every: 'often' is not a duration; write it like 90s, 15m, 4h or 2d"
        ],
        id="source-bad-every",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nsources:\n  - id: a\n    kind: rss\n    url: ${ALLHANDS_TEST_NOT_SET}\n",
        [
            "book.yaml:7: sources[0].url: environment variable ALLHANDS_TEST_NOT_SET is not set (export ALLHANDS_TEST_NOT_SET=... before starting allhands)"
        ],
        id="source-env-unset",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nguardrails:\n  account_patterns: ['[0-9']\n",
        [
            "book.yaml:5: guardrails.account_patterns[0]: regex does not compile: unterminated character set at position 4"
        ],
        id="guardrails-bad-pattern",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nguardrails:\n  approval:\n    first_replies: -1\n",
        ["book.yaml:6: guardrails.approval.first_replies: must be 0 or more, not -1"],
        id="guardrails-approval-negative",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nguardrails:\n  signoff: Sam\n",
        ["book.yaml:5: guardrails.signoff: unknown key (did you mean 'sign_off'?)"],
        id="guardrails-unknown",
    ),
    pytest.param(
        "teams:\n  support:\n    channel: slack:#support\nadmin_channel: '#admins'\n",
        [
            "book.yaml:4: admin_channel: '#admins' is not a channel; write platform:channel, e.g. slack:#support (platforms: console, slack, teams)"
        ],
        id="admin-channel-bad",
    ),
    pytest.param(
        "sources: []\n",
        ["book.yaml: no teams defined (add a teams: section)"],
        id="no-teams",
    ),
    pytest.param(
        "sources:\n  - {id: hook, kind: webhook, secret: abcde}\nteams:\n  a: {channel: console:#a}\n",
        ["book.yaml:2: sources[0].secret: should be at least 16 characters long, not 5"],
        id="short-webhook-secret",
    ),
    pytest.param(
        "sources:\n  - {id: hook, kind: webhook, secret: abcde}\nteams:\n  a: {chanel: console:#a}\n  b: {channel: console:#b}\ndefault_team: nope\nroutes:\n  - {team: a, keywords: [x]}\n",
        [
            "book.yaml:4: teams.a.channel: is required",
            "book.yaml:4: teams.a.chanel: unknown key (did you mean 'channel'?)",
            "book.yaml:2: sources[0].secret: should be at least 16 characters long, not 5",
            "book.yaml:6: default_team: unknown team 'nope' (known teams: b)",
        ],
        id="a-structural-error-and-every-other-problem",
    ),
    pytest.param(
        "teams: [a, b]\ndefault_team: nope\nbusiness_hours:\n  office: {days: 7}\n",
        [
            "book.yaml:1: teams: should be a mapping (key: value on lines below), not a list",
            "book.yaml:4: business_hours.office.timezone: is required",
            "book.yaml:4: business_hours.office.days: unknown key (did you mean 'weekdays'?)",
        ],
        id="teams-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_broken_playbook(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(text, encoding="utf-8")
    assert problems(path) == expected


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_bytes(b"teams:\n  s\xff: {}\n")
    assert problems(path) == ["book.yaml: not UTF-8 text (byte 10)"]


def test_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("# padding\n" * 120_000, encoding="utf-8")
    assert problems(path) == [
        "book.yaml: file is 1,200,000 bytes; the limit is 1,000,000"
        " (split it into several files in the playbooks folder)"
    ]


def test_deeply_nested_yaml_is_refused_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("# [[[\nteams: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert problems(path) == [
        "book.yaml:2: brackets nested more than 64 levels deep"
        " (a playbook needs a few levels; check for a runaway [ or {)"
    ]


def test_deep_block_nesting_is_refused_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("".join(" " * i + f"k{i}:\n" for i in range(1400)), encoding="utf-8")
    assert problems(path) == [
        "book.yaml: nested too deeply to read"
        " (a playbook needs a few levels of indentation; check the indentation)"
    ]


def test_brackets_in_quotes_and_comments_do_not_count_as_nesting(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    many = "[" * 100
    path.write_text(
        f"# {many}\nteams:\n  s:\n    channel: slack:#s  # {many}\n"
        f'    keywords: [\'{many}\', "{{{{{{\\"{many}"]\n',
        encoding="utf-8",
    )
    assert load_playbooks(path).teams["s"].keywords == (many, '{{{"' + many)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "book.yaml"
    path.write_text("\n".join(lines) + "\nteams: {}\n", encoding="utf-8")
    assert problems(path) == [
        "book.yaml: the file holds more than 100,000 values once its YAML aliases (*name)"
        " are expanded (write the values out instead of nesting aliases)"
    ]


def test_yaml_alias_to_its_own_mapping(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("teams: &loop\n  support: *loop\n", encoding="utf-8")
    assert problems(path) == [
        "book.yaml:2: teams.support: should be a mapping (key: value on lines below), not empty"
    ]


def test_a_few_yaml_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("teams:\n  a: &t {channel: 'slack:#a'}\n  b: *t\n", encoding="utf-8")
    assert set(load_playbooks(path).teams) == {"a", "b"}


def test_the_same_team_in_two_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("teams:\n  support:\n    channel: slack:#a\n")
    (tmp_path / "b.yaml").write_text(
        "default_team: support\nteams:\n  support:\n    channel: slack:#b\n"
    )
    assert problems(tmp_path) == [
        f"{tmp_path.name}/b.yaml:3: teams.support: team 'support' is defined twice"
        f" (first in {tmp_path.name}/a.yaml)"
    ]


def test_a_single_value_in_two_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("default_team: s\nteams:\n  s:\n    channel: slack:#a\n")
    (tmp_path / "b.yaml").write_text("default_team: s\n")
    assert problems(tmp_path) == [
        f"{tmp_path.name}/b.yaml:1: default_team: default_team is set in more than one file"
        f" (first in {tmp_path.name}/a.yaml)"
    ]


def test_an_empty_folder(tmp_path: Path) -> None:
    assert problems(tmp_path) == [f"{tmp_path.name}: no .yaml files in this folder"]
