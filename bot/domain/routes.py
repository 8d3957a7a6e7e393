"""Routing rules as the playbooks give them (Route), what they look at (Post), and the
Router that sends a post to the first rule that takes it. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex

from bot.domain.cue_patterns import cues

REGEX_TIMEOUT = 0.05  # seconds one admin regex may spend on one post


@dataclass(frozen=True, slots=True)
class Route:
    """A routing rule: when every condition given holds, the post goes to `team`.

    `keywords`, `phrases` and `regex` look at the text, and any one of them is enough;
    `sources`, `kinds`, `languages` and `authors` must each hold when given. `label`
    names the rule in explanations (`route 'security first' (teams.yaml:4)`); a rule
    without a label is a team's own keyword list.
    """

    team: str
    keywords: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    regex: str | None = None
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True, slots=True)
class Post:
    """What routing looks at besides the kind: the text and where and whom it came from."""

    text: str
    source: str = ""
    language: str | None = None
    author: str = ""


class _CompiledRoute:
    def __init__(self, route: Route):
        self.route = route
        self.keywords = cues(*route.keywords) if _any_text(route.keywords) else None
        self.phrases = cues(*route.phrases) if _any_text(route.phrases) else None
        # Admins' patterns run on strangers' text: the `regex` module can stop one that
        # backtracks without end, where `re` would hang the triage thread.
        self.regex = regex.compile(route.regex, regex.IGNORECASE) if route.regex else None
        self.sources = frozenset(route.sources)
        self.kinds = frozenset(route.kinds)
        self.languages = frozenset(lang.lower() for lang in route.languages)
        self.authors = frozenset(a.lower().removeprefix("@") for a in route.authors)
        self.matches_text = bool(self.keywords or self.phrases or self.regex)
        self.has_condition = self.matches_text or bool(
            self.sources or self.kinds or self.languages or self.authors
        )

    def why(self, post: Post, kind: str) -> str | None:
        """Why this rule takes the post, or None when it does not."""
        reasons = []
        if self.sources:
            if post.source not in self.sources:
                return None
            reasons.append(f"source {post.source!r}")
        if self.kinds:
            if kind not in self.kinds:
                return None
            reasons.append(f"kind {kind}")
        if self.languages:
            language = (post.language or "").lower()
            if language not in self.languages and language.split("-")[0] not in self.languages:
                return None
            reasons.append(f"language {language}")
        if self.authors:
            author = post.author.lower().removeprefix("@")
            if author not in self.authors:
                return None
            reasons.append(f"author @{author}")
        if self.matches_text:
            found = self._text_match(post.text)
            if found is None:
                return None
            reasons.insert(0, found)
        return ", ".join(reasons)

    def _text_match(self, text: str) -> str | None:
        for noun, pattern in (("keyword", self.keywords), ("phrase", self.phrases)):
            if pattern is not None and (found := pattern.search(text)):
                return f"{noun} {' '.join(found.group(0).lower().split())!r}"
        if self.regex is not None:
            try:
                found = self.regex.search(text, timeout=REGEX_TIMEOUT)
            except TimeoutError:
                return None
            if found:
                return f"regex matched {found.group(0)[:60]!r}"
        return None


def _any_text(words: Sequence[str]) -> bool:
    return any(w.strip() for w in words)


class Router:
    """Routes a post to the first rule that takes it, in order; else to the default team."""

    def __init__(self, routes: Sequence[Route], *, default_team: str):
        self.default_team = default_team
        compiled = [_CompiledRoute(r) for r in routes]
        self._compiled = [c for c in compiled if c.has_condition]

    def route(self, post: Post | str, *, kind: str = "") -> tuple[str, str]:
        """(team, the rule that decided and why) for a post of this kind."""
        if isinstance(post, str):
            post = Post(post)
        for rule in self._compiled:
            why = rule.why(post, kind)
            if why is None:
                continue
            team = rule.route.team
            label = f"{rule.route.label}: " if rule.route.label else ""
            return team, f"{label}{why} -> {team}"
        return self.default_team, f"no rule matched -> default team {self.default_team}"
