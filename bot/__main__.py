"""`python -m bot` is the `allhands` command."""

from bot.cli import main

main()
