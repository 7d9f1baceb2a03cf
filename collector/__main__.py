"""``python -m collector`` runs the ``fabricscope`` command line."""

from collector.cli import main

raise SystemExit(main())
