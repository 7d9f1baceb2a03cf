"""The InfluxDB v2 push face: what Telegraf's ``metric_version = 1`` would write for a scrape
(``telegraf_v1``), the line protocol, and the pusher with its bounded buffer.

May import: aiohttp (the pusher), ``collector.aggregate`` (health counters), the shared
vocabulary and the standard library. Never ``receive``, ``decoders`` or ``http``.
"""
