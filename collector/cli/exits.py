"""The command line's name and exit statuses, one set for every ``fabricscope`` command.

A command's own meanings of a status (``topology diff``: 1 = different, 2 = trouble, as
diff(1); ``topology check``: 1 = findings, 2 = cannot check) are named in its module from these.
"""

from __future__ import annotations

import sys

PROG = "fabricscope"

EXIT_OK = 0
EXIT_FAIL = 1  # the command ran and failed: unreadable input, an unreachable collector, not found
EXIT_USAGE = 2  # bad arguments (argparse's own status)
EXIT_INTERRUPTED = 130  # Ctrl+C: 128 + SIGINT


def report_error(message: str, status: int = EXIT_FAIL) -> int:
    """Print ``fabricscope: error: MESSAGE`` on stderr; returns ``status``."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status
