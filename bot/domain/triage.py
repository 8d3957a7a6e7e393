"""Triage's rules: complaint cues, kind, and urgency by shipped cues.

The Triager (bot.domain.triager) combines these with the learned complaint model
(bot.domain.complaint_model), which uses the cues below as features, and with the Router
(bot.domain.routes); without a model, the cues alone decide as follows.

A post is a complaint when it collects COMPLAINT_POINTS (2) from the evidence below. Each
kind of evidence counts once however often it appears, and no rule looks further than a
few words around a cue, so long posts stay cheap.

    2  a breach: something expected did not happen ("won't load", "still no refund",
       "nobody answers", "no signal since 9am", "charged me twice", "never again")
    1  trouble named ("error", "outage", "late", "wrong", "refund", "please fix")
    1  persistence ("still", "again", "keeps dropping", "for 3 days", "on hold")
    1  an expectation ("supposed to", "promised", "was told")
    1  a negation anywhere ("not", "n't", "never", "nobody")
    1  "why" or "how come": people rarely ask a company why when nothing is wrong
    1  sarcasm ("gotta love", "thanks a lot")
    1  VADER compound <= -0.05, and 1 more at <= -0.7
    1  each, only on top of a cue above: the customer's own order, bill, account...;
       a plea for help. Alone they make an ordinary question.

Phrases that look like trouble but ask for help or are polite ("can't find", "not sure",
"no problem", "never mind", "as promised") are ignored. So a question with mild trouble
stays a question, and a question that states a breach ("why is my order still not
here?") is a complaint. `benchmarks/triage_eval.py` measures the rules on labelled tweets.
"""

from __future__ import annotations

import re
from typing import Protocol

from bot.domain import urgency
from bot.domain.cue_patterns import cues


class SentimentAnalyzer(Protocol):
    """Anything shaped like VADER's SentimentIntensityAnalyzer."""

    def polarity_scores(self, text: str) -> dict[str, float]: ...


def _listed(block: str) -> list[str]:
    return [p.strip() for p in block.replace("\n", ",").split(",") if p.strip()]


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_NEGATION = (
    r"(?:can'?t|cannot|can\s+not|won'?t|wouldn'?t|doesn'?t|does\s+not|didn'?t|did\s+not|"
    r"don'?t|do\s+not|isn'?t|is\s+not|aren'?t|are\s+not|wasn'?t|weren'?t|haven'?t|have\s+not|"
    r"hasn'?t|has\s+not|hadn'?t|couldn'?t|could\s+not|not|never|unable\s+to|no\s+longer|"
    r"nobody|no\s+one|no-one|nothing|fail(?:s|ed)?\s+to|refuses?\s+to|refused\s+to)"
)
# What a product or a service is for: negated, it is a promise broken.
_EXPECTED = (
    r"(?:work\w*|load\w*|open\w*|connect\w*|log\w*\s*(?:in|on)|login|sign\w*\s*in|access\w*|"
    r"download\w*|install\w*|updat\w*|play\w*|stream\w*|start\w*|turn\w*\s+on|charg\w*|"
    r"arriv\w*|receiv\w*|deliver\w*|dispatch\w*|ship\w*|show\w*|display\w*|here|there|come|"
    r"came|respond\w*|repl\w*|answer\w*|call\w*\s+(?:me\s+)?back|get\w*\s+back|got\w*\s+back|"
    r"get\s+through|got\s+through|contact\w*|reach\w*|refund\w*|fix\w*|resolv\w*|sort\w*|"
    r"help\w*|send|sent|process\w*|activat\w*|cover\w*|honou?r\w*|accept\w*|recogni[sz]\w*|"
    r"sync\w*|print\w*|fit\w*|last\w*|let\w*|allow\w*|get|gets|getting|got|gotten|use|using|"
    r"return\w*|cancel\w*|change\w*|reset\w*|recover\w*|proceed\w*|availabl\w*|possible|valid|"
    r"right|correct|happy|impressed|acceptable|good\s+enough)"
)
# What the customer pays for, missing: "no internet since 9am".
_ABSENT = (
    r"(?:internet|broadband|wi-?fi|signal|service|power|electricity|heating|hot\s+water|water|"
    r"tv|connection|network|data|phone\s+line|dial\s+tone|response|reply|answer|help|support|"
    r"update|call\s*back|refund|sign\s+of)"
)
BREACH = _rule(
    rf"(?<!\w)(?:{_NEGATION}(?:\s+\w+){{0,2}}?\s+{_EXPECTED}"
    rf"|still\s+(?:\w+\s+){{0,2}}?{_NEGATION}"
    rf"|no\s+(?:\w+\s+)?{_ABSENT}"
    r"|never\s+(?:\w+\s+){0,4}?again"
    r"|(?:charg\w*|bill\w*)\s+(?:me\s+)?(?:twice|double|two\s+times))(?!\w)"
)
BREACH_CUES = cues(
    *_listed("""
    not working, stopped working, still waiting, still no, still nothing, still broken,
    charged twice, double charged, overcharged, on hold, hung up, hangs up, hang up on,
    never again, last time i, done with you, i'm done with, lost a customer,
    take my business, going elsewhere, not recommend, wouldn't recommend,
    how did this happen, how does this happen, how could this happen, what happened to,
    what's going on, what is going on, what's up with, what is wrong with, what's wrong with,
    are you kidding, you kidding me, what the heck, what the hell, wtf, seriously?, really?,
    fix this, fix it, fix your, sort it out, sort this out, get your act together,
    thanks for nothing, waste of time, waste of money, rip off, ripoff, scam, #fail, epic fail,
    unacceptable, ridiculous, disgrace, disgraceful, appalling, pathetic, shocking, useless,
    rubbish, subpar, infuriating, uncooperative, unprofessional, incompetent, mistreated,
    misleading, not happy, unhappy, nothappy, fed up, sick of, annoyed, annoying,
    on my nerves, disappointed, disappointing, frustrated, frustrating
    """)
)
# A fault, named: a point, not a complaint on its own ("how do I report a bug?").
TROUBLE_CUES = cues(
    *_listed("""
    problem, problems, issue, issues, error, errors, bug, bugs, glitch, broken, broke,
    crash, crashes, crashed, crashing, freezes, freezing, outage, is down, are down,
    went down, been down, down again, went out, gone off, cut off, dropped, dropping,
    disconnected, stopped, stops, please stop, fault, faulty, defective, damaged, cracked,
    ripped, torn, leaking, mouldy, moldy, dirty, unsafe, expired, missing, lost,
    disappeared, stranded, stuck, delayed, delay, late, slow, cancelled, canceled, refund,
    complaint, complain, wrong, incorrect, incomplete, invalid, failed, fails, fail,
    unusable, impossible, ignored, ignoring, rude, poor, worst, terrible, awful, horrible,
    hacked, compromised, stolen, fraud, fraudulent, phishing, unauthorised, unauthorized,
    urgent, asap, escalate, please resolve, please fix, please reply, please respond,
    please assist, pls assist, plz resolve, look into, looked into
    """),
    plural=True,
)
# The problem has lasted or come back.
PERSISTENCE = _rule(
    r"(?<!\w)(?:still|again|keeps?\s+\w+ing|every\s+(?:time|day|night)|already|ago|"
    r"waiting|waited|wait\s+time|on\s+hold|tried|trying|since|"
    r"for\s+(?:over\s+)?an?\s+(?:hour|day|week|month)|"
    r"(?:\d+|two|three|four|five|six|several|many|multiple|numerous|countless)\s*-?\s*"
    r"(?:more\s+)?(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|times|calls|emails)"
    r"(?:\s+wait)?)(?!\w)"
)
# The customer was told or promised something else.
EXPECTATION_CUES = cues(
    *_listed("""
    supposed to, should have, should've, promised, expected, meant to, was told, were told,
    guaranteed, used to
    """)
)
NEGATION_WORD = _rule(
    r"(?:(?<!\w)(?:not|no|never|nothing|nobody|none|cannot|"
    r"(?:ca|wo|do|does|did|is|are|was|were|have|has|had|could|would|should|ai)nt)|\wn't)(?!\w)"
)
# Phrases that look like trouble but are not: help-seeking ("can't find", "not sure"),
# politeness ("no problem", "never mind") and expectations met ("as promised").
HARMLESS = cues(
    *_listed("""
    can't find, cannot find, can not find, cant find, can't see, not sure, confused,
    never mind, nevermind, no problem, no problems, not a problem, no worries, no rush,
    no hurry, as promised, as expected, as advertised, can't wait, cannot wait, cant wait,
    don't think, don't know, don't mind
    """)
)
WHY = _rule(r"(?<!\w)(?:why|how\s+come)(?!\w)")
# Praise that is not meant: "gotta love it when the line drops".
SARCASM_CUES = cues(
    *_listed("""
    gotta love, love it when, love when, sarcasm, #sarcasm, thanks a lot, thanks for nothing,
    thank you for nothing
    """)
)
# Praise for what went wrong: "losing my bags again, great job".
IRONIC_PRAISE = cues(
    *_listed("""
    well done, great job, good job, nice one, nice work, great work, way to go, bravo,
    just great, great service, awesome service, fantastic service, brilliant service,
    cheers for that, just what i needed
    """)
)
# ... unless it is thanks for a fix: "great job sorting my delayed refund so quickly".
RESOLVED = cues(
    *_listed("""
    sorted, fixed, resolved, solved, sorting, fixing, quick, quickly, fast, helped, helping,
    working again, back up, back on
    """)
)


_AGAIN = _rule(r"(?<!\w)(?:again|still|keeps?\s+\w+ing|every\s+time)(?!\w)")


def sarcastic(plain: str) -> bool:
    """Whether a post (as `_plain` gives it) praises what went wrong."""
    if SARCASM_CUES.search(plain):
        return True
    if IRONIC_PRAISE.search(plain) is None or RESOLVED.search(plain):
        return False
    return TROUBLE_CUES.search(plain) is not None or _AGAIN.search(plain) is not None


# The customer's own thing, or a plea: context that strengthens other evidence.
OWN_THING = _rule(
    r"(?<!\w)my\s+(?:\w+\s+)?(?:order|package|parcel|delivery|bill|account|phone|car|card|"
    r"refund|money|flight|train|bag|luggage|item|internet|connection|service|subscription|"
    r"device|laptop|tv|payment|booking|ticket|seat|room|food|meal|reservation)s?(?!\w)"
)
PLEA = _rule(
    r"(?<!\w)(?:please\s+help|help\s+(?:me|us|please)|need\s+(?:your\s+)?help|help\s*[!?]|"
    r"can\s+(?:someone|anyone)\s+help|pl[sz]\s+help)"
)
PRAISE_CUES = cues(
    *_listed("""
    thank you, thanks, thx, love, loving, great, awesome, amazing, brilliant, excellent,
    fantastic, kudos, well done, impressed, best, perfect, shoutout, shout-out
    """)
)
_QUESTION_START = re.compile(
    r"^\s*(?:@\S+\s+)*(?:how|what|why|when|where|who|which|can|could|does|do|is|are|will|"
    r"would|should|anyone|any)\b",
    re.IGNORECASE,
)
COMPLAINT_POINTS = 2
NEGATIVE, VERY_NEGATIVE = -0.05, -0.7  # VADER compound
SCANNED = 5000  # characters read for cues; a post says what is wrong early
# Characters VADER reads. Its time grows with the square of the length (1,000 characters:
# 1 ms; 5,000: 18 ms), and a post's opening carries its tone; 500, as much as the
# complaint model reads, keeps normalise + triage above 3,000 mentions a second.
SENTIMENT_SCANNED = 500
_URL = re.compile(r"https?://\S+")


def _plain(text: str) -> str:
    """Text as the cues expect it: typographic apostrophes made plain, links dropped."""
    return _URL.sub(" ", text.replace("\u2019", "'").replace("\u2018", "'"))


def complaint_points(text: str, *, compound: float) -> int:
    """How strongly a post reads as a complaint (see the module docstring for the scale)."""
    text = HARMLESS.sub(" ", _plain(text[:SCANNED]))
    cues = 0
    if BREACH.search(text) or BREACH_CUES.search(text):
        cues += 2
    for pattern in (TROUBLE_CUES, PERSISTENCE, EXPECTATION_CUES, WHY):
        cues += pattern.search(text) is not None
    cues += sarcastic(text)
    if NEGATION_WORD.search(text):
        cues += 1
    points = cues + (compound <= NEGATIVE) + (compound <= VERY_NEGATIVE)
    if cues:
        points += (OWN_THING.search(text) is not None) + (PLEA.search(text) is not None)
    return points


def is_question(text: str) -> bool:
    """Whether a post asks something."""
    return "?" in text or _QUESTION_START.match(text) is not None


def kind_of(text: str, *, compound: float) -> str:
    """complaint, question, praise or other."""
    if complaint_points(text, compound=compound) >= COMPLAINT_POINTS:
        return "complaint"
    if is_question(text):
        return "question"
    if compound >= 0.4 and PRAISE_CUES.search(text):
        return "praise"
    return "other"


def urgency_of(
    text: str, *, kind: str, compound: float, audience: int | None, audience_weight: float = 0.0
) -> str:
    """critical, high, normal or low, by the shipped severity cues (see bot.domain.urgency)."""
    rules = DEFAULT_URGENCY
    return urgency.urgency(
        kind=kind,
        severity=rules.severity_of(text),
        score=None,
        compound=compound,
        audience=audience,
        audience_weight=audience_weight,
    )


DEFAULT_URGENCY = urgency.UrgencyRules()
