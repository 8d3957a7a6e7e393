"""The Triager: kind, score, urgency and team of one post, from the rules, the complaint
model, the severity cues and the routes. Pure; built once at start-up (bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import language as languages
from bot.domain import urgency
from bot.domain.complaint_model import ComplaintModel
from bot.domain.mentions import Item, Triage
from bot.domain.ratings import kind_for_rating
from bot.domain.routes import Post, Router
from bot.domain.team_match import TeamMatcher
from bot.domain.triage import SENTIMENT_SCANNED, SentimentAnalyzer, kind_of


@dataclass(frozen=True, slots=True)
class TriageSettings:
    """The playbook's `triage:` section, ready to use."""

    complaint_threshold: float | None = None  # None: the model's own
    urgency_rules: urgency.UrgencyRules = field(default_factory=urgency.UrgencyRules)
    route_threshold: float = 0.1


class Triager:
    """Scores and routes items; holds the analyzer, router and model built at start-up.

    With a complaint model, the kind comes from its calibrated score against the threshold
    (and the rules only tell questions, praise and the rest apart); without one, from the
    rules alone. A post in a language the model was not trained on is `unsure`. A post no
    routing rule takes goes to the team it is most like, when teams describe themselves.
    """

    def __init__(
        self,
        analyzer: SentimentAnalyzer,
        router: Router,
        *,
        model: ComplaintModel | None = None,
        settings: TriageSettings | None = None,
        matcher: TeamMatcher | None = None,
    ):
        self.analyzer = analyzer
        self.router = router
        self.model = model
        self.settings = settings or TriageSettings()
        self.matcher = matcher
        threshold = self.settings.complaint_threshold
        self.threshold = threshold if threshold is not None else (model.threshold if model else 0.5)

    def kind(self, text: str, *, tone: dict[str, float], language: str) -> tuple[str, float | None]:
        """The kind and the complaint score (None without a model); `tone` is VADER's
        polarity scores of the post."""
        model = self.model
        compound = float(tone["compound"])
        if model is None:
            return kind_of(text, compound=compound), None
        if language and language.split("-")[0] not in model.languages:
            return "unsure", None
        score, ruled = model.assess(
            text, compound=compound, neg=float(tone["neg"]), pos=float(tone["pos"])
        )
        if score >= self.threshold:
            return "complaint", score
        if "r question" in ruled:
            return "question", score
        if compound >= 0.4 and "r praise" in ruled:
            return "praise", score
        return "other", score

    def route(self, post: Post, *, kind: str) -> tuple[str, str, str]:
        """(team, why, a note when unsure) for a post of this kind."""
        team, rule = self.router.route(post, kind=kind)
        if self.matcher is None or not rule.startswith("no rule matched"):
            return team, rule, ""
        scores = self.matcher.scores(post.text)
        if scores and scores[0][1] >= self.settings.route_threshold:
            best, confidence = scores[0]
            return best, f"most like team {best} ({confidence:.2f}) -> {best}", ""
        unsure = " · ".join(f"{t} {v:.2f}" for t, v in scores[:2])
        return team, f"{rule} (most alike: {unsure})", f"unsure: {unsure}" if unsure else ""

    def __call__(self, item: Item, *, source: str = "", repeat: bool = False) -> Triage:
        """Triage one normalised item from `source`; `repeat`: its author's earlier mention
        is still unanswered."""
        text = f"{item.title}\n{item.text}" if item.title else item.text
        tone = self.analyzer.polarity_scores(text[:SENTIMENT_SCANNED])
        compound = float(tone["compound"])
        language = (item.language or languages.detect(text)).lower()
        kind, score = self.kind(text, tone=tone, language=language)
        kind = kind_for_rating(kind, item.rating)  # one or two stars is a complaint
        post = Post(text, source=source, language=item.language, author=item.author.handle)
        # Routes naming kinds (`kinds: [complaint]`) still take a post the model cannot
        # read, by the rules' guess, so a team for Portuguese complaints gets them.
        guessed = kind_of(text, compound=compound) if kind == "unsure" else kind
        team, rule, note = self.route(post, kind=guessed)
        if kind == "unsure":
            note = "; ".join(filter(None, [f"kind unsure: written in {language}", note]))
        rules = self.settings.urgency_rules
        severity = rules.severity_of(text)
        level = urgency.urgency(
            kind="complaint" if kind == "unsure" else kind,
            severity=severity,
            score=score,
            compound=compound,
            audience=item.author.audience,
            audience_weight=rules.audience_weight,
            repeat=repeat,
        )
        return Triage(
            kind=kind,
            sentiment=compound,
            urgency=level,
            team=team,
            rule=rule,
            score=score,
            severity=severity,
            language=language,
            note=note,
        )
