"""fabricscope runtime: CLI, capture reading, and (later) the collector service."""
