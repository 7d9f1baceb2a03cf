"""``python -m collector`` runs the ``fabricscope`` command line."""

from collector.cli.main import main

raise SystemExit(main())
