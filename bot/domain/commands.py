"""The one command grammar every chat platform speaks. Parsing is pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import parse_duration
from bot.errors import CommandError

HELP = """\
allhands commands (type them after /allhands):
  list [open|mine|team]   what needs someone (default: open)
  show N                  a mention with its thread and history
  claim N                 take #N: you answer it
  release N               give #N back to the team
  reply N <text>          answer #N publicly, in the customer's thread
  preview N <text>        what `reply` would post, where and as whom; sends nothing
  resolve N               #N is done
  reopen N                #N needs attention again
  ignore N <reason>       #N needs no answer (say why)
  snooze N <duration>     hide #N for a while: 30m, 4h, 2d
  assign N <person>       give #N to someone
  move N <team>           send #N to another team's channel (teaches triage)
  kind N <kind>           correct #N's kind: complaint, question, praise or other
  approve N               (leads) post the answer to #N that waits for approval
  edit N <text>           (leads) post your text instead of the waiting answer
  reject N <reason>       (leads) do not post the waiting answer; its writer is told why
  help                    this list"""

LIST_SCOPES = ("open", "mine", "team", "all")
MAX_ARGUMENT = 10_000


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: its verb, the mention number, and the rest."""

    verb: str
    number: int | None = None
    text: str = ""
    scope: str = ""
    duration: timedelta | None = None


_NUMBER = re.compile(r"#?(\d{1,9})")
_NEEDS_TEXT = {
    "reply": "what to say, e.g. `reply 42 Thanks, we are on it`",
    "ignore": "why, e.g. `ignore 42 spam`",
    "snooze": "for how long, e.g. `snooze 42 2h`",
    "assign": "to whom, e.g. `assign 42 @dana`",
    "preview": "the reply to check, e.g. `preview 42 Thanks, we are on it`",
    "edit": "the text to post instead, e.g. `edit 42 Sorry about that, we are on it`",
    "reject": "why, e.g. `reject 42 too sharp, please soften it`",
    "move": "the team, e.g. `move 42 billing`",
    "kind": "complaint, question, praise or other, e.g. `kind 42 complaint`",
}
KINDS = ("complaint", "question", "praise", "other")
_NUMBER_ONLY = ("show", "claim", "release", "resolve", "reopen", "approve")
VERBS = ("help", "list", *_NUMBER_ONLY, *_NEEDS_TEXT)


def parse(line: str) -> Command:
    """Read one command line (with or without a leading `/allhands`); CommandError if wrong."""
    text = line.strip()
    if text.lower().startswith("/allhands"):
        text = text[len("/allhands") :].strip()
    if len(text) > MAX_ARGUMENT:
        raise CommandError(f"That command is {len(text):,} characters; the limit is 10,000.")
    if not text:
        return Command("help")
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    if verb == "help":
        return Command("help")
    if verb == "list":
        scope = rest.lower() or "open"
        if scope not in LIST_SCOPES:
            raise CommandError(f"`list {rest}`: choose one of {', '.join(LIST_SCOPES)}.")
        return Command("list", scope=scope)
    if verb not in VERBS:
        raise CommandError(f"Unknown command `{verb[:40]}`. Type `help` for the list.")
    number_text, _, rest = rest.partition(" ")
    found = _NUMBER.fullmatch(number_text)
    if not found:
        shown = number_text[:20] or "nothing"
        raise CommandError(f"`{verb}` needs a mention number like 42 or #42, not {shown}.")
    number = int(found.group(1))
    rest = rest.strip()
    if verb in _NUMBER_ONLY:
        if rest:
            raise CommandError(f"`{verb} {number}` takes nothing more; got `{rest[:40]}`.")
        return Command(verb, number=number)
    if not rest:
        raise CommandError(f"`{verb} {number}` needs {_NEEDS_TEXT[verb]}.")
    if verb == "snooze":
        try:
            return Command(verb, number=number, duration=parse_duration(rest))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    if verb == "assign":
        return Command(verb, number=number, text=rest.removeprefix("@").strip())
    if verb == "kind":
        if rest.lower() not in KINDS:
            raise CommandError(
                f"`kind {number}` takes one of {', '.join(KINDS)}; not `{rest[:40]}`."
            )
        return Command(verb, number=number, text=rest.lower())
    if verb == "move":
        return Command(verb, number=number, text=rest.removeprefix("#").strip())
    return Command(verb, number=number, text=rest)
