"""Counting reply text as Mastodon and Bluesky count it, and Bluesky's byte-offset facets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.richtext import find_links, graphemes, link_facets, mastodon_length

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, seven code points
FLAG = "🇩🇪"  # one grapheme, two code points


def test_graphemes_count_what_people_see() -> None:
    assert graphemes("abc") == 3
    assert graphemes(FAMILY) == 1 and len(FAMILY) == 7
    assert graphemes(FLAG + FLAG) == 2
    assert graphemes("e\u0301") == 1  # e + combining acute
    assert graphemes("") == 0


def test_mastodon_counts_every_link_as_23_and_mentions_without_domain() -> None:
    long_link = "https://example.com/" + "a" * 200
    assert mastodon_length(f"see {long_link}") == 4 + 23
    assert mastodon_length("see http://x.io") == 4 + 23
    assert mastodon_length(f"see {long_link}", url_length=30) == 34
    assert mastodon_length("@ann@very-long-instance.example hi") == len("@ann hi")
    assert mastodon_length("@ann hi") == 7
    assert mastodon_length(f"{FAMILY} thanks") == 8
    assert mastodon_length("mail me at ann@example.com") == len("mail me at ann@example.com")


def test_links_leave_trailing_punctuation_and_unmatched_brackets_out() -> None:
    text = "Docs (https://example.com/help). Or https://en.wikipedia.org/wiki/Foo_(bar)!"
    assert [link.url for link in find_links(text)] == [
        "https://example.com/help",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]
    assert find_links("not a link: https:// or ftp://x.org or www.example.com") == []


def test_bluesky_facets_use_utf8_byte_offsets() -> None:
    text = f"Café {FAMILY} → https://lumo.example/status ok"
    facets = link_facets(text)
    assert len(facets) == 1
    index = facets[0]["index"]
    raw = text.encode("utf-8")
    assert raw[index["byteStart"] : index["byteEnd"]] == b"https://lumo.example/status"
    assert index["byteStart"] != text.index("https")  # characters and bytes differ here
    assert facets[0]["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://lumo.example/status"}
    ]


@given(st.text(max_size=40), st.text(max_size=40))
def test_facets_always_point_at_their_link(before: str, after: str) -> None:
    text = f"{before} https://example.org/x {after}"
    raw = text.encode("utf-8", "surrogatepass")
    for facet in link_facets(text):
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert raw[start:end].decode("utf-8", "surrogatepass") == facet["features"][0]["uri"]
