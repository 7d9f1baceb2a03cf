"""Aggregate: every receiver's ``Delta`` merged into one fabric-wide state.

Holds the ``Aggregator`` (totals, smoothed rates, statuses, snapshots), its ``PortBook``
(tallies and link states kept as statuses change), the ``FabricView`` (locate table, drop log,
flow activity), the period detector and the fabric-health analysis (``health``: typed events
from the merged state). Time is passed in; nothing here decodes.

May import: the shared vocabulary, ``topology`` and the standard library. Never ``decoders``,
``receive``, the faces, asyncio or aiohttp.
"""
