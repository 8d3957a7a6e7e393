"""Slack's settings, checked before anything is opened: each problem with where to find the
right value in Slack's app configuration."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.errors import ConfigError, Problem
from bot.settings import Settings


def check_settings(settings: Settings) -> None:
    """Refuse Slack settings that cannot work, each problem with a hint; ConfigError."""
    problems: list[Problem] = []
    if not settings.slack_bot_token.startswith("xoxb-"):
        problems.append(
            Problem(
                "is not a bot token",
                key="SLACK_BOT_TOKEN",
                hint="it starts with xoxb-: OAuth & Permissions > Bot User OAuth Token",
            )
        )
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        problems.append(
            Problem(
                "is not an app-level token",
                key="SLACK_APP_TOKEN",
                hint="it starts with xapp-: Basic Information > App-Level Tokens,"
                " scope connections:write",
            )
        )
    if not settings.slack_signing_secret and not settings.slack_app_token:
        problems.append(
            Problem(
                "is not set",
                key="SLACK_SIGNING_SECRET",
                hint="Basic Information > App Credentials > Signing Secret; or set"
                " SLACK_APP_TOKEN to use Socket Mode instead of a public URL",
            )
        )
    if settings.slack_api_url:
        parts = urlsplit(settings.slack_api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                Problem(
                    f"{settings.slack_api_url!r} is not a URL",
                    key="SLACK_API_URL",
                    hint="leave it unset for Slack itself, e.g. https://slack.com/api/",
                )
            )
    if problems:
        raise ConfigError(problems)
