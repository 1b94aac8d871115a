"""Logging of the commands: one call in each command's `main`, never at import.

A job's log (the rule's `log:` file) collects everything. What the user must read even when the
job succeeds goes to the CONSOLE logger as well, which also reaches the terminal (Snakemake
shows a finished job's log only when it fails). A ValueError, the error a command raises for a
bad input or setting (it names the file or config key), ends the command with its message on
one line, not a traceback: Snakemake prints the failed job's log (`show-failed-logs`, set in
profiles/default/), and the message is its last line.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Records of this logger reach the terminal as well as the log file.
CONSOLE = "workflow.console"


def setup_logging(log_file: str | None = None) -> None:
    """Log INFO and above to `log_file` (else stderr, which the rule's `log:` file collects);
    with a file, the CONSOLE logger and errors also go to stderr, the terminal."""
    handlers: list[logging.Handler] = []
    if log_file is None:
        handlers.append(logging.StreamHandler(sys.stderr))
    else:
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
        terminal = logging.StreamHandler(sys.stderr)
        terminal.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        terminal.addFilter(lambda record: record.name == CONSOLE or record.levelno >= logging.ERROR)
        handlers.append(terminal)
    handlers[0].setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=handlers)
    sys.excepthook = _report_error


def _report_error(kind, error, traceback) -> None:
    """A bad input or setting (ValueError) is told in one line; anything else is a bug and
    keeps its traceback."""
    if issubclass(kind, ValueError):
        logging.getLogger(CONSOLE).error("%s", error)
    else:
        sys.__excepthook__(kind, error, traceback)
