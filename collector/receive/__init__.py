"""Receive: socket → decode → per-receiver state → a ``Delta`` every tick.

Holds the UDP listener and receive loop, the compiled socket reader that keeps reading the
socket into a ring while the loop is busy (plain C, ``_socket_ring.c``), the receiver (a thread
or a worker process), the agent admission (``allowed_agents``: whose datagrams count at all),
the pipeline (the one place ``DecodeError`` is caught and counted), ``FabricState``, the
accounting of flow, counter and drop rows with the per-agent port tables (one Cython
pure-Python source, two builds) and the locate / drop observations.

May import: the shared vocabulary (``collector.delta``, ``families``, ``drop_events``),
``decoders``, ``topology`` and the standard library. Never asyncio or aiohttp (the receive loop
is synchronous and runs in worker processes), never another room of the collector.
"""
