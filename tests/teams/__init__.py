"""Tests of allhands on Microsoft Teams, against a local fake of the Bot Connector service."""
