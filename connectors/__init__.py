"""Sources of public mentions: one module per platform, a shared base and a registry."""
