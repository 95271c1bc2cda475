"""What every command module of the CLI shares: the console it prints to."""

from __future__ import annotations

import sys

from rich.console import Console

# wide enough for the split tables when piped (rich falls back to 80 columns off a terminal)
console = Console(width=None if sys.stdout.isatty() else 160)
