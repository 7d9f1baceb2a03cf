"""``fabricscope aggregate``: the fabric view of every shard's deltas, read from NATS JetStream.

The same settings as ``serve`` (a shared config file works for both; the receiving ones are not
used) and the same service, faces and UI; only the deltas come from the bus (docs/scale-out.md).
"""

from __future__ import annotations

import argparse

from collector.cli import serve

HELP = "merge the deltas every 'serve --publish' shard sends over NATS JetStream; serve them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve flags (``--nats`` is the one aggregate needs)."""
    serve.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Validate the settings, then aggregate until SIGTERM/SIGINT."""
    return serve.run_command(args, aggregate=True)
