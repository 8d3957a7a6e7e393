"""A generated storm: one outage written many ways, amid ordinary unrelated complaints.

`storm(n, seed)` gives `n` posts, `outage_share` of them about one outage (built from
several phrasings, with typos, filler, emoji, shouting, hashtags and sometimes the status
page's link: the noise), the rest ordinary complaints about many other things, some
sharing everyday words with the outage ("not working", "down", "again"). Each post carries
its label, so that grouping can be scored against it. `calm_day()` gives one ordinary
mention a minute. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

OUTAGE_PHRASINGS = [
    "No signal in the {region} since {time}, is there an outage?",
    "Is the network down in the {region}? My phone has zero bars",
    "{region} outage again?? Mobile data and calls both dead",
    "Lost all signal around {region} {place}. Anyone else with no service?",
    "Cell service outage {region} side, can't call or text",
    "Your network is down across the {region}, no signal for hours",
    "Still no mobile signal in {region} {place} - when will the outage be fixed",
    "Calls dropping and no data, whole {region} seems to have no signal",
    "Signal gone in the {region} area. Outage? Status page says nothing",
    "no bars no data no calls in {region} {place}, network outage?",
]
REGIONS = ["north"]
PLACES = ["Leeds", "York", "Newcastle", "Durham", "Sunderland", "the city centre", "my town"]
TIMES = ["this morning", "9am", "an hour", "lunchtime", "last night", "8:30"]
STATUS_LINK = "https://status.lumo.example/incidents/north-signal"
# A second family, sharing fewer words between phrasings: a shop's payments outage amid
# ordinary shop complaints (for grouping tuned on one family not to be judged on it only).
PAYMENT_PHRASINGS = [
    "Payments failing at checkout, card declined every time",
    "Can't pay for anything in the app, checkout just spins",
    "is checkout broken? my card gets rejected but bank says fine",
    "Payment error 502 when I try to buy, anyone else?",
    "your payment page is down, lost my basket twice",
    "Checkout keeps failing with an error, tried 3 cards",
    "Apple Pay not working on your site today, payment fails",
    "Transaction failed again. Is the payment system down?",
]
SHOP_ORDINARY = [
    "My parcel is late by {days} days",
    "Wrong size delivered, need an exchange",
    "The app logs me out every time",
    "Why is shipping so expensive to {country}",
    "Customer service never called me back",
    "Discount code not applied to my order",
    "Item arrived damaged, box crushed",
    "Can I change my delivery address?",
    "Refund still not received after {days} days",
    "Your app is slow on my {device}",
    "Newsletter unsubscribe link doesn't work",
    "Points missing from my loyalty account",
]

ORDINARY = [
    "I was charged twice for my {month} bill, please refund",
    "The app crashes every time I open settings on my {device}",
    "Why did my price go up by {amount} without any notice?",
    "Waited {minutes} minutes on the support line and got cut off",
    "Can't log in to my account, password reset email never arrives",
    "My new SIM card still hasn't arrived after {days} days",
    "Roaming charges in {country} were way higher than promised",
    "Your website checkout is not working when I pay by card",
    "The router you sent keeps rebooting every {minutes} minutes",
    "How do I cancel my contract? The form is broken",
    "Voicemail stopped working after the last update on my {device}",
    "Engineer didn't show up for the broadband install appointment",
    "Bill shows a data add-on I never ordered",
    "Your chat bot is useless, I need a human to fix my direct debit",
    "Porting my number from another provider has failed {days} times",
    "The app's dark mode is unreadable on my {device}",
    "Received a letter saying I'm in debt but my account is paid up",
    "Wifi calling option disappeared from my {device} settings",
    "Upgrade offer email link goes to a page that is down",
    "eSIM activation QR code is not working, store could not help",
]
SLOTS = {
    "month": ["January", "March", "June", "October"],
    "device": ["iPhone", "Pixel", "Galaxy", "tablet"],
    "amount": ["£5", "£8", "20%", "£3.50"],
    "minutes": ["20", "45", "90", "10"],
    "days": ["3", "10", "two", "five"],
    "country": ["Spain", "France", "the US", "Italy"],
}
FILLER = [
    "seriously",
    "ugh",
    "come on",
    "not happy",
    "fix it",
    "!!!",
    "😡",
    "🙄",
    "#fail",
    "@lumo",
    "this is the third time",
    "really annoying",
    "any update?",
    "cheers",
]


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated post and whether it is about the outage."""

    text: str
    author: str
    at: datetime
    outage: bool
    url: str = ""


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    choice = rng.random()
    if choice < 0.4:
        return word[:i] + word[i + 1 :]  # a letter dropped
    if choice < 0.8:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # two swapped
    return word[:i] + word[i] + word[i:]  # a letter doubled


def noisy(text: str, rng: random.Random, *, level: float = 0.7) -> str:
    """Text as people type it: typos, filler, shouting, trimmed."""
    words = text.split()
    words = [_typo(w, rng) if rng.random() < level * 0.12 else w for w in words]
    if rng.random() < level * 0.5:
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLER))
    if rng.random() < level * 0.3:
        words.append(rng.choice(FILLER))
    out = " ".join(words)
    if rng.random() < level * 0.15:
        out = out.upper()
    elif rng.random() < level * 0.3:
        out = out.lower()
    return out


def _fill(template: str, rng: random.Random) -> str:
    values = {k: rng.choice(v) for k, v in SLOTS.items()}
    values.update(region=rng.choice(REGIONS), place=rng.choice(PLACES), time=rng.choice(TIMES))
    return template.format(**values)


def outage_post(rng: random.Random, family: str = "network") -> str:
    """One post about the outage."""
    if family == "payments":
        return noisy(rng.choice(PAYMENT_PHRASINGS), rng)
    text = noisy(_fill(rng.choice(OUTAGE_PHRASINGS), rng), rng)
    if rng.random() < 0.1:
        text += " " + STATUS_LINK
    return text


def ordinary_post(rng: random.Random, family: str = "network") -> str:
    """One ordinary complaint about something else."""
    return noisy(_fill(rng.choice(SHOP_ORDINARY if family == "payments" else ORDINARY), rng), rng)


def storm(
    n: int = 10_000,
    *,
    seed: int = 7,
    start: datetime,
    span: timedelta = timedelta(minutes=10),
    outage_share: float = 0.7,
    family: str = "network",
) -> list[Generated]:
    """`n` posts spread evenly over `span` from `start`, of one `family` (network, payments)."""
    rng = random.Random(seed)
    step = span / max(n, 1)
    out = []
    for i in range(n):
        outage = rng.random() < outage_share
        text = outage_post(rng, family) if outage else ordinary_post(rng, family)
        url = STATUS_LINK if outage and STATUS_LINK in text else ""
        out.append(Generated(text, f"user{rng.randrange(10**6)}", start + step * i, outage, url))
    return out


def calm_day(*, start: datetime, seed: int = 11) -> list[Generated]:
    """One ordinary mention a minute for a day: complaints, questions and thanks."""
    rng = random.Random(seed)
    others = [
        "Thanks {name}, the shop staff sorted my {device} quickly",
        "Question: does my plan include calls to {country}?",
        "Loving the new {device} deal, well done",
        "Is there a student discount on {device} contracts?",
        "{name} on the phone was so helpful today, thank you",
    ]
    names = ["Sam", "Priya", "Tom", "Aisha", "Joe"]
    out = []
    for i in range(24 * 60):
        if rng.random() < 0.6:
            text = ordinary_post(rng)
        else:
            template = rng.choice(others).replace("{name}", rng.choice(names))
            text = noisy(_fill(template, rng), rng)
        out.append(Generated(text, f"calm{i}", start + timedelta(minutes=i), False))
    return out


def score(labels: list[bool], groups: list[int | None]) -> tuple[float, float]:
    """Grouping precision and recall of the outage: the group holding most outage posts is
    the outage's incident; precision is the share of its members about the outage, recall
    the share of outage posts in it."""
    tally: dict[int, int] = {}
    for outage, group in zip(labels, groups, strict=True):
        if outage and group is not None:
            tally[group] = tally.get(group, 0) + 1
    if not tally:
        return 0.0, 0.0
    best = max(sorted(tally), key=lambda g: tally[g])
    members = sum(1 for g in groups if g == best)
    return tally[best] / members, tally[best] / max(1, sum(labels))
