"""fabricscope's collector: the rooms between a datagram and a face, one sub-package each.

Data flows one way (docs/design.md has the map)::

    UDP ─► receive/ ─► Delta ─► aggregate/ ─► prometheus/, compat/, http/, influx/
                                   ▲
                  serve/ wires them; cli/ is the command line

This top level holds only the vocabulary both sides of the worker boundary share: ``delta`` (what a
receiver hands the aggregator), ``delta_codec`` (its versioned wire form), ``families`` (the native
metric families), ``drop_events`` (a drop notification's fields, filters and text) and ``addresses``
(canonical MAC / IP text). These import nothing from the sub-packages. The import rules of every
room are stated in its ``__init__`` and held by tests/test_layout.py."""
