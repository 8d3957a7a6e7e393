"""Normalising: HTML stripped, entities decoded, control characters gone, length capped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.mentions import Author, Item
from bot.domain.normalise import MAX_TEXT, clean_text, normalise


@pytest.mark.parametrize(
    ("text", "is_html", "expected"),
    [
        ("<p>Hello <b>there</b></p><p>second</p>", True, "Hello there\n\nsecond"),
        ("a<br>b<br/>c", True, "a\nb\nc"),
        ("<script>alert(1)</script>visible<style>p{}</style>", True, "visible"),
        ("Fish &amp; chips &lt;3 &#x1F600;", True, "Fish & chips <3 😀"),
        ("&lt;!channel&gt; hi", False, "<!channel> hi"),
        ("&amp;lt;b&amp;gt;", True, "&lt;b&gt;"),  # decoded once, not twice
        ("tabs\tand   spaces\u00a0here", False, "tabs and spaces here"),
        ("bell\x07 escape\x1b[2J nul\x00", False, "bell escape[2J nul"),
        ("line\r\nbreaks\rmixed", False, "line\nbreaks\nmixed"),
        ("Cafe\u0301", False, "Café"),  # NFC
        ("<a href='javascript:alert(1)'>click</a>", True, "click"),
        ("unclosed <b tag", True, "unclosed <b tag"),  # left as text; chat escapes it
        ("", True, ""),
    ],
)
def test_clean_text(text: str, is_html: bool, expected: str) -> None:
    assert clean_text(text, is_html=is_html) == expected


def test_long_posts_are_cut_with_a_marker() -> None:
    text = clean_text("word " * 20_000)
    assert len(text) <= MAX_TEXT + 10
    assert text.endswith("…[cut]")


def test_normalise_keeps_ids_and_cleans_title() -> None:
    item = Item(
        external_id="1", text="<p>x</p>", title="<i>T</i>", author=Author("a"), is_html=True
    )
    clean = normalise(item)
    assert (clean.text, clean.title, clean.external_id, clean.is_html) == ("x", "T", "1", False)


@given(st.text(max_size=300), st.booleans())
def test_clean_text_never_fails_and_leaves_no_controls(text: str, is_html: bool) -> None:
    cleaned = clean_text(text, is_html=is_html)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in cleaned)
    assert cleaned == cleaned.strip()
