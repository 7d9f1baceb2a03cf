"""The HTTP face: the aiohttp application and one module per resource it mounts.

Handlers read what they are handed (the Protocols of ``collector.http.access``); none decodes.
Every request passes ``collector.http.authority`` first (writes need the API token).

May import: aiohttp, the shared vocabulary, ``collector.aggregate`` types, ``topology``, ``web``
(the UI's files) and the standard library. Never ``receive`` or ``decoders``.
"""
