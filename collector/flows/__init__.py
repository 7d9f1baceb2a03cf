"""Flows: sFlow-RT-compatible flow definitions and the receiver-side flow engine.

Holds the key vocabulary (``keys``), the filter grammar (``filter``) and flow definitions with
their validation (``definition``), all three plain standard library so that the aggregator and
the HTTP face can use them; and, for the receivers, the key extraction from the fast path's
compiled rows (``extract``) and the per-receiver engine that turns rows into the partial sums a
``Delta`` carries (``engine``).

May import: the shared vocabulary, the standard library; ``extract`` and ``engine`` also
``decoders`` (row columns, opcode and drop reason names) and ``topology`` (port resolution).
Never asyncio, aiohttp or another room of the collector.
"""
