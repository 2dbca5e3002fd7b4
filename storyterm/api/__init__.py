"""The HTTP API: a thin FastAPI layer over the same session core the TUI uses.

Nothing in storyterm.core or the TUI start-up path imports this package; `storyterm serve`
builds the app with `create_app(runtime)`.
"""

from __future__ import annotations

from storyterm.api.app import create_app

__all__ = ["create_app"]
