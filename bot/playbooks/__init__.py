"""Playbooks: the admins' YAML files, their schema, and the one loader that checks them."""

from bot.playbooks.loader import load_playbooks, playbook_files
from bot.playbooks.specs import ChannelRef, Playbooks, RouteSpec, SourceSpec, TeamSpec

__all__ = [
    "ChannelRef",
    "Playbooks",
    "RouteSpec",
    "SourceSpec",
    "TeamSpec",
    "load_playbooks",
    "playbook_files",
]
