"""Logging of the commands: one call in each command's `main`, never at import."""

from __future__ import annotations

import logging
import sys


def setup_logging() -> None:
    """Log INFO and above to stderr (the rule's `log:` file collects it)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
