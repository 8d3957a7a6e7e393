"""Microsoft Teams: the ChatAdapter, /api/messages, the Bot Connector client and Adaptive Cards."""
