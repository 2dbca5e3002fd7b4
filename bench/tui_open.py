"""Area 3 on screen: opening the 1,000-part session in the TUI until its newest parts are
visible, from Redis and with the cache off."""

from __future__ import annotations

from bench.common import AreaResult, Skip
from bench.context import Context

TITLE = "Opening the 1,000-part session (on screen)"


def run(ctx: Context, area: AreaResult) -> None:
    try:
        import storyterm.tui  # noqa: F401
    except ImportError as exc:
        raise Skip("storyterm.tui is not on this branch yet") from exc
    raise Skip("written once the TUI is merged")
