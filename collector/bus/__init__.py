"""The bus transport: each host's deltas carried over NATS JetStream to one fabric aggregator.

``publisher`` (``serve --publish``) sends every delta the receivers of this host hand over,
coalescing in bounded memory while the bus is away; ``consumer`` (``aggregate --nats``) merges
every shard's deltas exactly once (``ledger``: per-shard delta ids, checkpoints); ``settings``
holds their small settings, ``connection`` the connect and stream set-up both share.

May import the shared vocabulary (``collector.delta``, ``collector.delta_codec``), asyncio and
the ``nats`` client; never the receive side, the decoders, the aggregator or a face: what it
merges into and counts with are callables ``serve`` hands it.
"""
