"""The sFlow-RT ai-metrics-compatible face: its ``points``, trend, period and Prometheus text,
computed from aggregator snapshots once per tick (docs/compat.md).

May import: ``collector.aggregate`` (snapshot and period types), the shared vocabulary,
``decoders.rocev2`` (the opcode names, a constant table) and the standard library. Never
``receive``, ``http``, asyncio or aiohttp.
"""
