"""The native Prometheus face: the registry (a client_python custom ``Collector``) and the text
exposition written straight from aggregator snapshots.

May import: ``collector.aggregate``, the shared vocabulary, ``prometheus_client`` and the
standard library. Never ``receive``, ``decoders``, asyncio or aiohttp.
"""
