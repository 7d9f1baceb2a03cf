"""The web UI: static assets served by the collector at ``/`` (see docs/design.md)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
