"""Slack: the ChatAdapter, the bolt app and its listeners, Block Kit and Slack's text format."""
