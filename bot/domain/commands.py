"""The one command grammar every chat platform speaks. Parsing is pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import parse_duration
from bot.errors import CommandError

HELP = """\
allhands commands (type them after /allhands):
  list [open|mine|team|all] [page]
                          what needs someone (default: open), 20 a page
  show N                  a mention with its thread and history
  claim N                 take #N: you answer it
  release N               give #N back to the team
  reply N <text>          answer #N publicly, in the customer's thread
  reply N --again <text>  post the same answer again (refused within 10 minutes without it)
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
incidents (many mentions about one thing, written I7):
  show I7 / claim I7      an incident with its members / you are on it
  resolve I7              resolve the incident and every open member
  reply-all I7 <text>     answer each customer once ({author}: their handle, {name})
  split I7 <N N ...>      move those members into a new incident
  merge I7 I9             move I9's members into I7
  detach N                take #N out of its incident: it gets its own card
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
    incident: int | None = None  # `I7` where an incident is meant
    numbers: tuple[int, ...] = ()  # `split`'s members, `merge`'s second incident


_NUMBER = re.compile(r"#?(\d{1,9})")
_INCIDENT = re.compile(r"[iI](\d{1,9})")
INCIDENT_VERBS = ("show", "claim", "resolve", "reply-all", "split", "merge")
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
        scope, _, page = rest.lower().partition(" ")
        if scope.isdigit() and not page:  # `list 2`: the second page of open mentions
            scope, page = "open", scope
        scope = scope or "open"
        if scope not in LIST_SCOPES:
            raise CommandError(f"`list {rest[:40]}`: choose one of {', '.join(LIST_SCOPES)}.")
        page = page.strip().removeprefix("page").strip() or "1"
        if not page.isdigit() or not 0 < int(page) < 100_000:
            raise CommandError(
                f"`list {scope} {page[:20]}`: the page is a number, e.g. `list {scope} 2`."
            )
        return Command("list", scope=scope, number=int(page) if int(page) > 1 else None)
    if verb in INCIDENT_VERBS or verb == "detach":
        incident = _parse_incident(verb, rest)
        if incident is not None:
            return incident
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


def _parse_incident(verb: str, rest: str) -> Command | None:
    """An incident command (`claim I7`, `merge I7 I9`, ...), or None when `rest` does not
    name an incident (then it is a mention command)."""
    first, _, more = rest.partition(" ")
    more = more.strip()
    if verb == "detach":
        found = _NUMBER.fullmatch(first)
        if not found or more:
            raise CommandError("`detach` needs one mention number, e.g. `detach 42`.")
        return Command("detach", number=int(found.group(1)))
    named = _INCIDENT.fullmatch(first)
    if named is None:
        if verb in ("reply-all", "split", "merge"):
            shown = first[:20] or "nothing"
            raise CommandError(f"`{verb}` needs an incident like I7, not {shown}.")
        return None
    incident = int(named.group(1))
    if verb in ("show", "claim", "resolve"):
        if more:
            raise CommandError(f"`{verb} I{incident}` takes nothing more; got `{more[:40]}`.")
        return Command(verb, incident=incident)
    if verb == "reply-all":
        if not more:
            raise CommandError(f"`reply-all I{incident}` needs the text to send to everyone.")
        return Command(verb, incident=incident, text=more)
    if verb == "merge":
        other = _INCIDENT.fullmatch(more)
        if other is None:
            raise CommandError(f"`merge I{incident}` needs a second incident, e.g. `merge I7 I9`.")
        if int(other.group(1)) == incident:
            raise CommandError(f"I{incident} cannot be merged with itself.")
        return Command(verb, incident=incident, numbers=(int(other.group(1)),))
    numbers = []
    for part in more.replace(",", " ").split():
        found = _NUMBER.fullmatch(part)
        if not found:
            raise CommandError(f"`split I{incident}` takes mention numbers; `{part[:20]}` is not.")
        numbers.append(int(found.group(1)))
    if not numbers:
        raise CommandError(f"`split I{incident}` needs the members to move, e.g. `split I7 42 43`.")
    return Command(verb, incident=incident, numbers=tuple(dict.fromkeys(numbers)))
