"""A terminal chat: cards, threads and private notes printed; commands read from a prompt."""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.chat import MessageRef, Ping
from bot.chat.cards import Card
from bot.chat.text import reveal_invisible

CommandHandler = Callable[[str, str], Awaitable[str]]
"""(line, who typed it) -> the answer to show."""

# What a terminal could act on: escape sequences and other control characters.
_CONTROL = {c: None for c in [*range(0, 9), *range(11, 32), 127]}


def terminal_safe(text: str) -> str:
    """Text with control characters dropped and invisible ones shown, safe to print."""
    return reveal_invisible(text.translate(_CONTROL))


def _indent(text: str, width: int) -> str:
    """Later lines of a message indented, so that it reads as one block under its header."""
    return text.replace("\n", "\n" + " " * width)


class ConsoleAdapter:
    """The ChatAdapter for a terminal: every channel is printed to one stream."""

    platform = "console"

    def __init__(
        self, out: TextIO | None = None, *, width: int = 78, reports_dir: Path | None = None
    ):
        self.out = out or sys.stdout
        self.width = width
        # Where report images are saved; without one, their text stand-in is printed.
        self.reports_dir = reports_dir
        self._ids = itertools.count(1)

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def find_card(self, channel: str, key: str, *, since: datetime) -> MessageRef | None:
        """A terminal keeps nothing to look in."""
        return None

    async def post_card(self, channel: str, card: Card, *, key: str | None = None) -> MessageRef:
        """Print the whole card under its channel's name."""
        safe = terminal_safe
        rule = "─" * self.width
        body = textwrap.fill(safe(card.text), self.width - 4, initial_indent="  │ ")
        body = body.replace("\n", "\n  │ ")
        lines = [
            rule,
            f"{safe(channel)}  {safe(card.title)}",
            f"  {safe(card.author)} on {safe(card.where)}",
            body,
            f"  {safe(card.url)}" if card.url else "",
            f"  {safe(card.status)}",
            (
                f"  [{'] ['.join(card.actions)}]   e.g. /allhands {card.actions[0]}"
                f" {card.ref or card.number}"
                if card.actions
                else ""
            ),
        ]
        self._print("\n".join(line for line in lines if line))
        return MessageRef(self.platform, channel, f"{channel}/{next(self._ids)}")

    async def post_message(self, channel: str, text: str) -> MessageRef:
        """Print a message under its channel's name."""
        self._print(f"{terminal_safe(channel)}  {_indent(terminal_safe(text), 2)}")
        return MessageRef(self.platform, channel, f"{channel}/{next(self._ids)}")

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        """Print the card's new status line."""
        shown = card.ref or f"#{card.number}"
        self._print(f"  ~ {shown} {card.state.value}: {terminal_safe(card.status)}")

    async def post_in_thread(
        self, ref: MessageRef, text: str, *, ping: Ping | None = None
    ) -> MessageRef:
        """Print a thread message indented under the card's channel, `@here` first if pinging."""
        mark = f"@{ping} " if ping in ("here", "channel") else ""
        shown = _indent(terminal_safe(text), 6)
        self._print(f"  ↳ {terminal_safe(ref.channel)} thread: {mark}{shown}")
        return MessageRef(self.platform, ref.channel, f"{ref.id}/{next(self._ids)}")

    async def tell(self, person: str, text: str, *, channel: str | None = None) -> None:
        """Print a note marked as private to one person."""
        shown = _indent(terminal_safe(text), 6)
        self._print(f"  (only {terminal_safe(person)} sees this) {shown}")

    async def send_report(
        self,
        person: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Print a report for one person; save its image and print the path, or its table."""
        rule = "═" * self.width
        lines = [rule, f"  (only {terminal_safe(person)} sees this)", terminal_safe(text)]
        saved = None
        if image is not None and self.reports_dir is not None:
            saved = await asyncio.to_thread(self._save, image, image_name or "report.png")
        if saved is not None:
            lines.append(f"Chart: {saved}")
        elif image_text:
            lines.append(terminal_safe(image_text))
        lines.append(rule)
        self._print("\n".join(lines))

    async def post_report(
        self,
        channel: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Print a report under its channel's name; save its image and print the path."""
        saved = None
        if image is not None and self.reports_dir is not None:
            saved = await asyncio.to_thread(self._save, image, image_name or "report.png")
        shown = f"Chart: {saved}" if saved is not None else image_text
        body = f"{text}\n\n{shown}".strip()
        self._print(f"{terminal_safe(channel)}  {_indent(terminal_safe(body), 2)}")

    def _save(self, image: bytes, name: str) -> Path:
        assert self.reports_dir is not None
        # Only the name's last part, with anything odd replaced: it must stay in the folder.
        safe = re.sub(r"[^\w.-]", "_", Path(name).name).lstrip(".") or "report.png"
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        path = self.reports_dir / safe
        path.write_bytes(image)
        return path


class ConsoleSession:
    """Reads command lines and answers them: the console's side of the command grammar.

    `/as NAME` switches who is typing, so one terminal can play a whole team.
    """

    def __init__(self, *, handle: CommandHandler, adapter: ConsoleAdapter, actor: str):
        self.handle = handle
        self.adapter = adapter
        self.actor = actor

    async def feed(self, line: str) -> None:
        """Run one line typed at the prompt and print the answer."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/as"):
            name = text[3:].strip().removeprefix("@")
            if not name or " " in name:
                self.adapter._print("  Write `/as NAME`, e.g. `/as dana`.")
                return
            self.actor = terminal_safe(name)[:40]
            self.adapter._print(f"  You are now {self.actor}.")
            return
        answer = await self.handle(text, self.actor)
        self.adapter._print("\n".join(f"  {terminal_safe(line)}" for line in answer.splitlines()))
