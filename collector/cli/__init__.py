"""The ``fabricscope`` command line: ``main`` (the command table), ``decode`` (+ ``capture``),
``serve``, the topology file commands, and the commands that ask a running collector over
HTTP (``client`` helpers, ``remote``, ``agents``, ``topology_check``).

The client commands use the standard library only: they import neither ``decoders`` nor
aiohttp (a ``fabricscope locate`` should not load the compiled decoder). ``exits`` is the one
set of exit statuses.
"""
