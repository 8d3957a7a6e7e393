"""Deployment settings from the environment, read once at start-up and checked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import parse_duration
from bot.errors import ConfigError, Problem

# Where Bot Framework publishes the keys that sign requests to bots (public cloud).
TEAMS_OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
# Microsoft Graph, where Teams channel posts are read back (public cloud).
TEAMS_GRAPH_URL = "https://graph.microsoft.com/v1.0"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where state and playbooks live, where to listen, and the chat platforms' secrets."""

    db_path: str = "allhands.db"
    playbooks: str = "playbooks"
    host: str = "0.0.0.0"
    port: int = 8080
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = ""
    microsoft_app_id: str = ""
    microsoft_app_password: str = ""
    microsoft_app_tenant_id: str = ""
    teams_emulator: bool = False  # Teams without authentication, for the Bot Framework Emulator
    teams_openid_url: str = TEAMS_OPENID_URL
    teams_token_url: str = ""  # default: Microsoft's login for MICROSOFT_APP_TENANT_ID
    teams_graph_url: str = TEAMS_GRAPH_URL  # where Teams cards are looked for after a crash
    outbox_keep: timedelta = timedelta(days=3)  # how long delivered effects stay in the store
    replica_host: str = ""  # the host a replica reports (default: the machine's name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from environment variables; ConfigError names any bad one."""
        env = os.environ if env is None else env
        port_text = env.get("PORT", "8080")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(
                [Problem(f"{port_text!r} is not a port number", key="PORT", hint="1-65535")]
            )
        keep_text = env.get("ALLHANDS_OUTBOX_KEEP", "3d")
        try:
            outbox_keep = parse_duration(keep_text)
        except ValueError as exc:
            raise ConfigError(
                [Problem(str(exc), key="ALLHANDS_OUTBOX_KEEP", hint="for example 3d or 12h")]
            ) from None
        return cls(
            db_path=env.get("ALLHANDS_DB", "allhands.db"),
            playbooks=env.get("ALLHANDS_PLAYBOOKS", "playbooks"),
            port=int(port_text),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_api_url=env.get("SLACK_API_URL", ""),
            microsoft_app_id=env.get("MICROSOFT_APP_ID", ""),
            microsoft_app_password=env.get("MICROSOFT_APP_PASSWORD", ""),
            microsoft_app_tenant_id=env.get("MICROSOFT_APP_TENANT_ID", ""),
            teams_emulator=env.get("TEAMS_EMULATOR", "").lower() in ("1", "true", "yes"),
            teams_openid_url=env.get("TEAMS_OPENID_URL", TEAMS_OPENID_URL),
            teams_token_url=env.get("TEAMS_TOKEN_URL", ""),
            teams_graph_url=env.get("TEAMS_GRAPH_URL", TEAMS_GRAPH_URL),
            outbox_keep=outbox_keep,
            replica_host=env.get("ALLHANDS_REPLICA_HOST", ""),
        )
