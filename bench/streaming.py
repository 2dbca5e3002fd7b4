"""Area 2, streaming: a 6,000- and a 20,000-token part sent by the loopback Ollama-protocol
server as fast as it can, from the first token to the last one visible in the TUI; and the same
stream read by the ollama client and discarded (the limit any front end can reach)."""

from __future__ import annotations

from bench.common import AreaResult, Skip
from bench.context import Context

TITLE = "Streaming a long part onto the screen"


def run(ctx: Context, area: AreaResult) -> None:
    try:
        import storyterm.devtools.fake_ollama  # noqa: F401
    except ImportError as exc:
        raise Skip(
            "storyterm.devtools.fake_ollama (the storyteller's work) is not on this branch yet"
        ) from exc
    raise Skip("written once the storyteller and the TUI are merged")
