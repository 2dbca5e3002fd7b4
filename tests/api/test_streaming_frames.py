"""A generation's frames as the writer's client receives them: text the model writes faster
than 25 frames a second goes out joined in fewer `delta` frames, whole and in order, never
behind a checkpoint or the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import Message

from storyterm.api.streaming import Generation
from storyterm.core.basics import PartState
from storyterm.core.generation.events import Failed, Saved, TextDelta
from storyterm.errors import GenerationStopped
from tests.api.test_continue import parse_sse


class _Part:
    """What a `saved` frame reads of a part."""

    seq = 1
    state = PartState.STREAMING
    word_count = 120


async def _never_leaves() -> Message:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def _frames(
    events: list[object], *, pause_after: int | None = None, every: float = 0.0
) -> list[Any]:
    """The frames sent for `events`, which the storyteller hands over all at once (a model
    faster than the server sends), with a pause after the first `pause_after`, or one each
    `every` seconds."""

    async def generate(cancel: asyncio.Event) -> AsyncIterator[object]:
        for n, event in enumerate(events):
            if n == pause_after:
                await asyncio.sleep(0.05)
            if every:
                await asyncio.sleep(every)
            yield event

    response = await Generation(generate, _never_leaves).response()
    body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[misc]
    return parse_sse(body.decode())


@pytest.mark.asyncio
async def test_text_that_came_at_once_goes_out_in_one_frame_whole_and_in_order() -> None:
    pieces = [f"word{i} " for i in range(200)]
    stopped = Failed(GenerationStopped("Stopped."), None)
    events: list[object] = [TextDelta(p) for p in pieces[:120]]
    events += [Saved(_Part()), *(TextDelta(p) for p in pieces[120:]), stopped]  # type: ignore[arg-type]
    frames = await _frames(events)
    # The text before the checkpoint, the checkpoint, the text after it, the end: the last
    # pieces do not wait behind the end, and nothing is sent twice.
    assert [name for name, _data in frames] == ["delta", "saved", "delta", "error"]
    assert frames[0][1]["text"] == "".join(pieces[:120])
    assert frames[2][1]["text"] == "".join(pieces[120:])


@pytest.mark.asyncio
async def test_the_last_pieces_go_out_when_the_stream_ends_without_a_word() -> None:
    pieces = [f"word{i} " for i in range(50)]
    frames = await _frames([TextDelta(p) for p in pieces], pause_after=10)
    deltas = [data["text"] for name, data in frames if name == "delta"]
    assert [name for name, _data in frames] == ["delta"] * len(deltas)
    assert "".join(deltas) == "".join(pieces)
    assert len(deltas) >= 2  # the pieces before the pause were not held back for the rest


@pytest.mark.asyncio
async def test_a_fast_model_s_text_goes_out_at_most_25_times_a_second() -> None:
    pieces = [f"word{i} " for i in range(40)]
    started = time.monotonic()
    frames = await _frames([TextDelta(p) for p in pieces], every=0.005)
    spent = time.monotonic() - started
    deltas = [data["text"] for name, data in frames if name == "delta"]
    assert deltas[0] == pieces[0]  # the first words at once
    assert "".join(deltas) == "".join(pieces)
    assert len(deltas) <= 25 * spent + 2, (len(deltas), spent)
