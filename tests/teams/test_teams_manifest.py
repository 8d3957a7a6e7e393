"""The Teams app package in docs/teams: a manifest Teams accepts, icons of the sizes it wants."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from bot.domain.commands import VERBS

TEAMS = Path(__file__).resolve().parents[2] / "docs" / "teams"
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def png_size(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def test_manifest_names_the_bot_and_its_icons() -> None:
    manifest = json.loads((TEAMS / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["id"] == PLACEHOLDER  # the README says to put MICROSOFT_APP_ID here
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    [bot] = manifest["bots"]
    assert bot["botId"] == PLACEHOLDER and "team" in bot["scopes"]
    for commands in bot["commandLists"]:
        assert len(commands["commands"]) <= 10  # Teams' limit per list
        for command in commands["commands"]:
            assert command["title"] in (*VERBS, "channel")
            assert len(command["description"]) <= 128
    # Reading a channel's posts back (a card cut off by a crash is found, not posted twice)
    # is the resource-specific permission, granted to the bot's own app registration.
    assert manifest["webApplicationInfo"]["id"] == PLACEHOLDER
    assert manifest["webApplicationInfo"]["resource"]
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in manifest[
        "authorization"
    ]["permissions"]["resourceSpecific"]
    assert (TEAMS / manifest["icons"]["color"]).name == "color.png"
    assert (TEAMS / manifest["icons"]["outline"]).name == "outline.png"


def test_icons_have_the_sizes_teams_requires() -> None:
    assert png_size(TEAMS / "color.png") == (192, 192, 6)
    assert png_size(TEAMS / "outline.png") == (32, 32, 6)


def test_readme_walks_from_zero_to_a_working_bot() -> None:
    readme = (TEAMS.parent.parent / "README.md").read_text(encoding="utf-8")
    for step in ("Azure Bot", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "/api/messages",
                 "manifest.json", "Upload a custom app", "@allhands channel"):  # fmt: skip
        assert step in readme, step
