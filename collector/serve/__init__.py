"""``fabricscope serve``: the settings (the only reader of ``Settings``, narrowed once into each
component's own settings), the topology holder and the service that wires sockets, receivers,
aggregator and faces and owns signals and shutdown.

May import every room of the collector; nothing of the collector imports ``serve`` but the
command line.
"""
